#include "storage/engine.h"

namespace rumor::storage {

const char* ColumnName(Column c) {
  switch (c) {
    case Column::kData:
      return "data";
    case Column::kHints:
      return "hints";
    case Column::kMeta:
      return "meta";
  }
  return "unknown";
}

}  // namespace rumor::storage
