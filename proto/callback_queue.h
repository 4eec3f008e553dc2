// gRPC 1.51's callback API on the client side (every channel here: peer
// gossip, replication, the client library) runs on one process-wide
// completion queue that channels reference-count: the first callback call
// on a channel takes a reference, destroying the channel drops it, and at
// zero gRPC shuts the queue down, joins its threads and frees it. When the
// last channel goes and a new one starts a call at that moment, the two
// race and the queue is freed twice (a double free in
// grpc_cq_internal_unref, seen under ASan when a test's clients came and
// went; a node can drop every link too, by idle expiry). Pinning one
// reference for the life of the process keeps the count above zero, so the
// teardown never runs. Shared by the server and the client library, which
// both link rumor_grpc.
#ifndef RUMOR_PROTO_CALLBACK_QUEUE_H_
#define RUMOR_PROTO_CALLBACK_QUEUE_H_

namespace rumor {

// Takes the pinned reference (once per process; later calls do nothing).
// Call before the first channel is created. Thread-safe.
void PinCallbackQueue();

}  // namespace rumor

#endif  // RUMOR_PROTO_CALLBACK_QUEUE_H_
