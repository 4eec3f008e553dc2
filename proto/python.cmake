# Included from the top-level CMakeLists.txt: the Python client's generated
# modules (messages and gRPC stubs of the client API), built by default.
#
#   build/python/rumor_pb/{kv,admin}_pb2.py and *_pb2_grpc.py
#
# client/python/rumor imports them as rumor_pb.kv_pb2 etc., so Python needs
# both directories: PYTHONPATH=client/python:build/python.
#
# protoc sees proto/ under the virtual path "rumor_pb" (-Irumor_pb=...): the
# modules then form a package of their own, and the generated stubs import
# "from rumor_pb import kv_pb2". (With the C++ side's import root they would
# form a top-level package named "proto", which other packages, such as
# proto-plus, also claim.) None of these files imports another; one that
# did would have to name it "rumor_pb/<file>.proto" for this to work.
# peer.proto is the nodes' own protocol: clients do not need it. Nor
# health.proto (gRPC's standard health service, which the client does not
# call): its module would register grpc.health.v1 messages that
# grpcio-health-checking's own registers too, and the two clash.
set(RUMOR_PYTHON_PROTOS kv admin)
set(RUMOR_PYTHON_GEN_DIR ${CMAKE_BINARY_DIR}/python)

set(rumor_python_inputs "")
set(rumor_python_outputs ${RUMOR_PYTHON_GEN_DIR}/rumor_pb/__init__.py)
foreach(name ${RUMOR_PYTHON_PROTOS})
  list(APPEND rumor_python_inputs ${CMAKE_SOURCE_DIR}/proto/${name}.proto)
  list(APPEND rumor_python_outputs
    ${RUMOR_PYTHON_GEN_DIR}/rumor_pb/${name}_pb2.py
    ${RUMOR_PYTHON_GEN_DIR}/rumor_pb/${name}_pb2_grpc.py)
endforeach()

add_custom_command(
  OUTPUT ${rumor_python_outputs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${RUMOR_PYTHON_GEN_DIR}/rumor_pb
  COMMAND protobuf::protoc
    -Irumor_pb=${CMAKE_SOURCE_DIR}/proto
    --python_out=${RUMOR_PYTHON_GEN_DIR}
    --grpc_python_out=${RUMOR_PYTHON_GEN_DIR}
    --plugin=protoc-gen-grpc_python=$<TARGET_FILE:gRPC::grpc_python_plugin>
    ${rumor_python_inputs}
  COMMAND ${CMAKE_COMMAND} -E touch ${RUMOR_PYTHON_GEN_DIR}/rumor_pb/__init__.py
  DEPENDS ${rumor_python_inputs} protobuf::protoc gRPC::grpc_python_plugin
  COMMENT "Generating the Python client's protobuf and gRPC modules (build/python/rumor_pb)"
  VERBATIM)
add_custom_target(rumor_python_protos ALL DEPENDS ${rumor_python_outputs})
