// An in-memory Engine for tests and the simulator. Thread-safe.
#ifndef RUMOR_STORAGE_MEM_ENGINE_H_
#define RUMOR_STORAGE_MEM_ENGINE_H_

#include <memory>

#include "storage/engine.h"

namespace rumor::storage {

std::unique_ptr<Engine> NewMemEngine();

}  // namespace rumor::storage

#endif  // RUMOR_STORAGE_MEM_ENGINE_H_
