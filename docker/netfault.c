// rumor-netfault: delay, jitter and reordering for the packets an iptables
// NFQUEUE rule hands it, for kernels without the netem qdisc.
//
// docker/chaos runs them inside the node containers (as root; compose
// grants NET_ADMIN): in each node that receives a delayed node's packets,
// one rumor-netfault reads the queue those packets are handed to by
//
//   iptables -t mangle -A RUMOR-CHAOS-NFQ -s SENDER -j NFQUEUE
//     --queue-num 11 --queue-bypass      (one line; queue 10 + sender's number)
//
// Held where they arrive, not in the sender's OUTPUT: there a packet still
// belongs to its socket, and TCP Small Queues would let only a few out per
// round trip.
//
// Each packet's verdict (ACCEPT) is held back until its time comes, so a
// packet goes on into the node that much later. Verdicts may be given in any
// order, which is what reorders packets: with --jitter a later packet can
// be given a shorter delay than an earlier one, and with --reorder a share
// of the packets goes out at once, ahead of the delayed ones (netem's
// "delay MS reorder PCT"). Nothing is dropped on purpose: the queue is
// fail-open (when it is full the kernel sends packets on undelayed), the
// rule has --queue-bypass (with no program bound, packets pass), and on
// SIGTERM or SIGINT, and on an error, every held packet is sent at once,
// then those the kernel has queued but not yet handed over, before exit
// (destroying a queue drops what is still in it). A SIGKILL, as when the
// node's container stops, drops what is held at that moment.
//
// Only packet metadata is copied to user space (NFQNL_COPY_META), and large
// offloaded (GSO) packets are queued whole.
//
// Exit codes: 0 stopped by a signal, 1 error, 2 usage, 3 the kernel has no
// NFQUEUE (nfnetlink_queue) support.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

enum { EXIT_USAGE = 2, EXIT_UNSUPPORTED = 3 };

static const char *const kUsage =
    "usage: rumor-netfault --queue N [--delay MS] [--jitter MS] [--reorder PCT]\n"
    "                      [--seed S] [--status FILE] [--pidfile FILE]\n"
    "\n"
    "Holds back the verdict on each packet of NFQUEUE queue N:\n"
    "  --delay MS     every packet leaves MS milliseconds late\n"
    "  --jitter MS    plus a uniform random -MS..+MS (never below 0); packets\n"
    "                 overtake each other as their delays differ\n"
    "  --reorder PCT  PCT percent of the packets leave at once, ahead of the\n"
    "                 delayed rest (needs --delay)\n"
    "  --seed S       the random choices' seed (default: time and pid)\n"
    "  --status FILE  a line of counters, rewritten every second\n"
    "  --pidfile FILE this process's pid, removed at exit\n"
    "SIGTERM or SIGINT sends every held packet at once, then exits 0.\n"
    "Exit codes: 0 stopped, 1 error, 2 usage, 3 no NFQUEUE in this kernel.\n";

static const char *pid_path;  // --pidfile, removed at exit once written
static int pid_written;
static void release_and_drain(void);

static void die(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("rumor-netfault: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  release_and_drain();
  if (pid_written) unlink(pid_path);
  exit(code);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// xorshift64*: small, seedable, good enough for fault choices.
static uint64_t rng_state;
static uint64_t rng_next(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}
// Uniform in [0, 1).
static double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

// --- held packets: a binary min-heap on the time each one is due -----------

struct held {
  uint64_t due_ns;
  uint32_t id;
};
static struct held *heap;
static size_t heap_len, heap_cap;

static void heap_push(uint64_t due_ns, uint32_t id) {
  if (heap_len == heap_cap) {
    size_t cap = heap_cap ? heap_cap * 2 : 1024;
    struct held *grown = realloc(heap, cap * sizeof *heap);
    if (!grown) die(1, "out of memory holding %zu packets", heap_len);
    heap = grown;
    heap_cap = cap;
  }
  size_t i = heap_len++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap[parent].due_ns <= due_ns) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i].due_ns = due_ns;
  heap[i].id = id;
}

static struct held heap_pop(void) {
  struct held top = heap[0];
  struct held last = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= heap_len) break;
    if (child + 1 < heap_len && heap[child + 1].due_ns < heap[child].due_ns) child++;
    if (last.due_ns <= heap[child].due_ns) break;
    heap[i] = heap[child];
    i = child;
  }
  if (heap_len > 0) heap[i] = last;
  return top;
}

// --- configuration and counters ----------------------------------------------

static struct {
  unsigned queue;
  uint64_t delay_ns, jitter_ns;
  double reorder;  // share sent at once, 0..1
} cfg;

static struct {
  uint64_t packets, delayed, at_once, verdict_errors, recv_errors;
  size_t max_held;
} stats;

static struct nfq_q_handle *qh;
static int draining;  // stopping: every packet read is accepted at once

static void accept_packet(uint32_t id) {
  if (nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL) < 0) stats.verdict_errors++;
}

static struct nfq_handle *nfq;
static int nfq_fd_;

// Every held packet goes out now, then whatever the kernel queued and has
// not handed over yet (destroying the queue, or exiting, would drop it;
// docker/chaos removes the rule first, so no more arrive). Runs once: die()
// can be reached from within it.
static void release_and_drain(void) {
  static int done;
  if (!qh || done) return;
  done = 1;
  while (heap_len > 0) accept_packet(heap_pop().id);
  draining = 1;
  static char drain_buf[1 << 16];
  for (long rounds = 0; rounds < 10000000; ++rounds) {
    ssize_t n = recv(nfq_fd_, drain_buf, sizeof drain_buf, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: empty
    nfq_handle_packet(nfq, drain_buf, (int)n);
  }
}

static int on_packet(struct nfq_q_handle *q, struct nfgenmsg *msg, struct nfq_data *nfa, void *data) {
  (void)q;
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;  // no id: nothing to give a verdict to
  uint32_t id = ntohl(ph->packet_id);
  stats.packets++;
  if (draining || (cfg.reorder > 0 && rng_unit() < cfg.reorder)) {
    stats.at_once++;
    accept_packet(id);
    return 0;
  }
  int64_t delay = (int64_t)cfg.delay_ns;
  if (cfg.jitter_ns > 0) delay += (int64_t)((rng_unit() * 2.0 - 1.0) * (double)cfg.jitter_ns);
  if (delay <= 0) {
    stats.at_once++;
    accept_packet(id);
    return 0;
  }
  stats.delayed++;
  heap_push(now_ns() + (uint64_t)delay, id);
  if (heap_len > stats.max_held) stats.max_held = heap_len;
  return 0;
}

static void write_status(const char *path) {
  if (!path) return;
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return;
  FILE *f = fopen(tmp, "w");
  if (!f) return;
  fprintf(f,
          "queue=%u delay_ms=%.1f jitter_ms=%.1f reorder_pct=%.1f packets=%llu delayed=%llu "
          "at_once=%llu held=%zu max_held=%zu verdict_errors=%llu recv_errors=%llu\n",
          cfg.queue, cfg.delay_ns / 1e6, cfg.jitter_ns / 1e6, cfg.reorder * 100.0,
          (unsigned long long)stats.packets, (unsigned long long)stats.delayed,
          (unsigned long long)stats.at_once, heap_len, stats.max_held,
          (unsigned long long)stats.verdict_errors, (unsigned long long)stats.recv_errors);
  if (fclose(f) == 0) rename(tmp, path);
}

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static double parse_number(const char *flag, const char *text, double max) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno || end == text || *end || !(v >= 0) || v > max)
    die(EXIT_USAGE, "%s takes a number from 0 to %g, not '%s'", flag, max, text);
  return v;
}

int main(int argc, char **argv) {
  static const struct option options[] = {
      {"queue", required_argument, 0, 'q'},   {"delay", required_argument, 0, 'd'},
      {"jitter", required_argument, 0, 'j'},  {"reorder", required_argument, 0, 'r'},
      {"seed", required_argument, 0, 's'},    {"status", required_argument, 0, 'S'},
      {"pidfile", required_argument, 0, 'p'}, {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int have_queue = 0, have_seed = 0;
  const char *status_path = NULL;
  uint64_t seed = 0;
  for (;;) {
    int c = getopt_long(argc, argv, "", options, NULL);
    if (c == -1) break;
    switch (c) {
      case 'q':
        cfg.queue = (unsigned)parse_number("--queue", optarg, 65535);
        have_queue = 1;
        break;
      case 'd': cfg.delay_ns = (uint64_t)(parse_number("--delay", optarg, 60000) * 1e6); break;
      case 'j': cfg.jitter_ns = (uint64_t)(parse_number("--jitter", optarg, 60000) * 1e6); break;
      case 'r': cfg.reorder = parse_number("--reorder", optarg, 100) / 100.0; break;
      case 's':
        seed = (uint64_t)parse_number("--seed", optarg, 9007199254740991.0);
        have_seed = 1;
        break;
      case 'S': status_path = optarg; break;
      case 'p': pid_path = optarg; break;
      case 'h': fputs(kUsage, stdout); return 0;
      default: fputs(kUsage, stderr); return EXIT_USAGE;
    }
  }
  if (optind != argc) die(EXIT_USAGE, "unexpected argument '%s' (--help)", argv[optind]);
  if (!have_queue) die(EXIT_USAGE, "--queue is required (--help)");
  if (cfg.reorder > 0 && cfg.delay_ns == 0) die(EXIT_USAGE, "--reorder needs a --delay to reorder against");
  rng_state = have_seed ? seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  rng_state = rng_state * 0x9E3779B97F4A7C15ULL + 1;  // never zero

  struct nfq_handle *h = nfq = nfq_open();
  if (!h) die(EXIT_UNSUPPORTED, "cannot open a netfilter queue socket: %s (no nfnetlink_queue in this kernel?)", strerror(errno));
  // Kernels before 3.8 need this; later ones ignore it.
  (void)nfq_bind_pf(h, AF_INET);
  qh = nfq_create_queue(h, (uint16_t)cfg.queue, on_packet, NULL);
  if (!qh) {
    int err = errno;
    if (err == EBUSY || err == EEXIST) die(1, "cannot bind NFQUEUE queue %u: another program holds it", cfg.queue);
    if (err == EPERM || err == EACCES) die(1, "cannot bind NFQUEUE queue %u: %s (needs root with CAP_NET_ADMIN)", cfg.queue, strerror(err));
    die(EXIT_UNSUPPORTED, "cannot bind NFQUEUE queue %u: %s (no nfnetlink_queue in this kernel?)", cfg.queue, strerror(err));
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) die(1, "cannot set the queue's copy mode: %s", strerror(errno));
  (void)nfq_set_queue_maxlen(qh, 1u << 16);
  uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
  if (nfq_set_queue_flags(qh, flags, flags) < 0)
    (void)nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  int fd = nfq_fd_ = nfq_fd(h);
  (void)nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
  int one = 1;
  // When the socket's receive buffer is full the kernel cannot hand a
  // packet over; the fail-open queue then sends it on undelayed. Without
  // this option every such overrun would also fail the next recv with
  // ENOBUFS (counted in recv_errors, which then stays 0 in practice).
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  sigset_t blocked, during_poll;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &during_poll);
  sigdelset(&during_poll, SIGTERM);
  sigdelset(&during_poll, SIGINT);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (pid_path) {
    FILE *f = fopen(pid_path, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0)
      die(1, "cannot write %s: %s", pid_path, strerror(errno));
    pid_written = 1;
  }
  write_status(status_path);

  static char buf[1 << 16];
  uint64_t next_status = now_ns() + 1000000000u;
  while (!stopping) {
    uint64_t now = now_ns();
    while (heap_len > 0 && heap[0].due_ns <= now) accept_packet(heap_pop().id);
    if (now >= next_status) {
      write_status(status_path);
      next_status = now + 1000000000u;
    }
    uint64_t wait = next_status - now;
    if (heap_len > 0 && heap[0].due_ns - now < wait) wait = heap[0].due_ns - now;
    struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = ppoll(&pfd, 1, &ts, &during_poll);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die(1, "poll: %s", strerror(errno));
    }
    if (ready == 0) continue;
    // A bounded batch, so packets that are due are not kept waiting by a
    // flood of new ones.
    for (int batch = 0; batch < 256; ++batch) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
        stats.recv_errors++;  // ENOBUFS: messages lost; the kernel fails open
        break;
      }
      if (n == 0) break;
      nfq_handle_packet(h, buf, (int)n);
    }
  }
  release_and_drain();
  write_status(status_path);
  nfq_destroy_queue(qh);
  nfq_close(h);
  if (pid_path) unlink(pid_path);
  return 0;
}
