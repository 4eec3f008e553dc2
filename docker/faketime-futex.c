/*
 * Preloaded with libfaketime for docker/chaos clock-skew (see
 * docker/entrypoint.sh): keeps kvd's timed waits correct while its wall
 * clock is offset.
 *
 * Abseil's Mutex and CondVar (kvd's, and gRPC's gpr_cv) wait with
 * syscall(SYS_futex, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, abs_deadline)
 * where abs_deadline = absl::Now() + timeout. Under libfaketime absl::Now()
 * is the offset clock but the kernel compares the deadline with the real
 * one, so every timed wait lasts the offset longer (+1h: periodic work such
 * as anti-entropy stops for an hour, even after the offset is reset) or
 * returns at once (-30m: those threads spin, 150% CPU). On a machine whose
 * clock really is off, process and kernel agree, and neither happens.
 *
 * This wrapper of libc's syscall() moves such a deadline from the faked
 * clock to the real one (deadline - (faked now - real now)), so a wait lasts
 * what its caller asked for. Only absolute CLOCK_REALTIME futex waits are
 * touched; every other call goes straight to libc. libfaketime itself
 * handles pthread_cond_timedwait and sem_timedwait.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

static long long to_ns(const struct timespec *t) {
  return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* The clock_gettime that libfaketime answers minus the kernel's. */
static long long fake_offset_ns(syscall_fn real_syscall) {
  struct timespec faked, real;
  clock_gettime(CLOCK_REALTIME, &faked);
  real_syscall(SYS_clock_gettime, CLOCK_REALTIME, &real);
  return to_ns(&faked) - to_ns(&real);
}

static int absolute_realtime_wait(long op, long timeout) {
  int cmd = (int)op & FUTEX_CMD_MASK;
  return timeout != 0 && (op & FUTEX_CLOCK_REALTIME) &&
         (cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAIT_REQUEUE_PI);
}

long syscall(long number, ...) {
  static syscall_fn next;
  if (!next) next = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
  va_list ap;
  va_start(ap, number);
  long a0 = va_arg(ap, long), a1 = va_arg(ap, long), a2 = va_arg(ap, long);
  long a3 = va_arg(ap, long), a4 = va_arg(ap, long), a5 = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_futex && absolute_realtime_wait(a1, a3)) {
    long long ns = to_ns((const struct timespec *)a3) - fake_offset_ns(next);
    if (ns < 0) ns = 0;
    struct timespec deadline = {ns / 1000000000LL, ns % 1000000000LL};
    return next(number, a0, a1, a2, (long)&deadline, a4, a5);
  }
  return next(number, a0, a1, a2, a3, a4, a5);
}
