# Included from the top-level CMakeLists.txt so that protoc runs with the
# repository root as its import path: files import "proto/kv.proto" and code
# includes "proto/kv.pb.h".
#
# Two libraries: rumor_proto (messages only) and rumor_grpc (service stubs).
# Code that needs only messages (codecs, the simulator) does not pull in
# gRPC's heavy headers, which cost seconds per translation unit.
set(RUMOR_PROTOS
  ${CMAKE_SOURCE_DIR}/proto/kv.proto
  ${CMAKE_SOURCE_DIR}/proto/admin.proto
  ${CMAKE_SOURCE_DIR}/proto/peer.proto
  ${CMAKE_SOURCE_DIR}/proto/health.proto)
set(RUMOR_PROTO_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${RUMOR_PROTO_GEN_DIR})

add_library(rumor_proto STATIC ${RUMOR_PROTOS})
target_link_libraries(rumor_proto PUBLIC protobuf::libprotobuf)
target_include_directories(rumor_proto PUBLIC ${RUMOR_PROTO_GEN_DIR})
protobuf_generate(TARGET rumor_proto LANGUAGE cpp
  PROTOC_OUT_DIR ${RUMOR_PROTO_GEN_DIR})
# Generated code is not ours to warn about.
target_compile_options(rumor_proto PRIVATE -Wno-unused-parameter)

add_library(rumor_grpc STATIC ${RUMOR_PROTOS})
target_link_libraries(rumor_grpc PUBLIC rumor_proto gRPC::grpc++)
protobuf_generate(TARGET rumor_grpc LANGUAGE grpc
  GENERATE_EXTENSIONS .grpc.pb.h .grpc.pb.cc
  PLUGIN "protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
  PROTOC_OUT_DIR ${RUMOR_PROTO_GEN_DIR})
target_compile_options(rumor_grpc PRIVATE -Wno-unused-parameter)
# gRPC support the server and the client library share (hand-written).
target_sources(rumor_grpc PRIVATE ${CMAKE_SOURCE_DIR}/proto/callback_queue.cc)
