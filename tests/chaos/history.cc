#include "tests/chaos/history.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace rumor::chaos {
std::string JsonStringList(const std::vector<std::string>& items);

namespace {

void AppendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendField(std::string* out, std::string_view name,
                 std::string_view value) {
  if (out->size() > 1) out->push_back(',');
  AppendQuoted(out, name);
  out->push_back(':');
  AppendQuoted(out, value);
}

void AppendList(std::string* out, std::string_view name,
                const std::vector<std::string>& values) {
  if (out->size() > 1) out->push_back(',');
  AppendQuoted(out, name);
  out->push_back(':');
  out->append(JsonStringList(values));
}

// A cursor over one line of JSON.
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed history line at column ", pos_ + 1, ": ",
                     AsAbsl(what)));
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r' || s_[pos_] == '\n')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == s_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }

  absl::StatusOr<std::string> String() {
    if (!Consume('"')) return Error("expected a string");
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return Error("short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= h - '0';
            else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
            else return Error("bad \\u escape");
          }
          // UTF-8 for the basic plane; surrogates are not expected here.
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          } else {
            out.push_back(static_cast<char>(0xE0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
          }
          break;
        }
        default:
          return Error("unknown escape");
      }
    }
    return Error("unterminated string");
  }

  // A number, true, false or null, returned as its raw text.
  absl::StatusOr<std::string> Scalar() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '}' &&
           s_[pos_] != ']' && s_[pos_] != ' ') {
      ++pos_;
    }
    if (pos_ == start) return Error("expected a value");
    std::string raw(s_.substr(start, pos_ - start));
    if (raw == "true" || raw == "false" || raw == "null") return raw;
    char* end = nullptr;
    std::strtod(raw.c_str(), &end);
    if (end != raw.c_str() + raw.size()) {
      pos_ = start;
      return Error("expected a number, true, false or null");
    }
    return raw;
  }

  absl::StatusOr<std::vector<std::string>> StringList() {
    if (!Consume('[')) return Error("expected a list");
    std::vector<std::string> out;
    if (Consume(']')) return out;
    while (true) {
      auto s = String();
      if (!s.ok()) return s.status();
      out.push_back(std::move(*s));
      if (Consume(']')) return out;
      if (!Consume(',')) return Error("expected ',' or ']' in a list");
    }
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::string ToJsonLine(const Event& e) {
  std::string out = "{";
  if (e.type != "meta") {
    char t[32];
    std::snprintf(t, sizeof t, "%.3f", e.t);
    absl::StrAppend(&out, "\"t\":", t, ",\"p\":", e.process);
  }
  AppendField(&out, "type", e.type);
  if (!e.f.empty()) AppendField(&out, "f", e.f);
  if (!e.key.empty()) AppendField(&out, "key", e.key);
  if (!e.value.empty()) AppendField(&out, "value", e.value);
  if (e.has_read) AppendList(&out, "read", e.read);
  if (e.type == "ok" && e.f == "read") AppendList(&out, "values", e.values);
  else if (e.type == "final") AppendList(&out, "values", e.values);
  if (!e.node.empty()) AppendField(&out, "node", e.node);
  if (!e.error.empty()) AppendField(&out, "error", e.error);
  for (const auto& [name, raw] : e.extra) {
    if (out.size() > 1) out.push_back(',');
    AppendQuoted(&out, name);
    out.push_back(':');
    out.append(raw);
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<Event> ParseJsonLine(std::string_view line) {
  Parser p(line);
  Event e;
  if (!p.Consume('{')) return p.Error("expected '{'");
  if (p.Consume('}')) return p.Error("empty object");
  while (true) {
    auto name = p.String();
    if (!name.ok()) return name.status();
    if (!p.Consume(':')) return p.Error("expected ':'");
    const std::string& n = *name;
    if (n == "values" || n == "read") {
      auto list = p.StringList();
      if (!list.ok()) return list.status();
      if (n == "values") {
        e.values = std::move(*list);
      } else {
        e.read = std::move(*list);
        e.has_read = true;
      }
    } else if (p.Peek() == '"') {
      auto s = p.String();
      if (!s.ok()) return s.status();
      if (n == "type") e.type = std::move(*s);
      else if (n == "f") e.f = std::move(*s);
      else if (n == "key") e.key = std::move(*s);
      else if (n == "value") e.value = std::move(*s);
      else if (n == "node") e.node = std::move(*s);
      else if (n == "error") e.error = std::move(*s);
      else {
        std::string raw;
        AppendQuoted(&raw, *s);
        e.extra.emplace_back(n, std::move(raw));
      }
    } else if (p.Peek() == '[') {
      auto list = p.StringList();
      if (!list.ok()) return list.status();
      e.extra.emplace_back(n, JsonStringList(*list));
    } else {
      auto raw = p.Scalar();
      if (!raw.ok()) return raw.status();
      if (n == "t") e.t = std::strtod(raw->c_str(), nullptr);
      else if (n == "p") e.process = std::atoi(raw->c_str());
      else e.extra.emplace_back(n, std::move(*raw));
    }
    if (p.Consume('}')) break;
    if (!p.Consume(',')) return p.Error("expected ',' or '}'");
  }
  if (!p.AtEnd()) return p.Error("text after the object");
  if (e.type.empty()) return p.Error("no \"type\"");
  return e;
}

absl::StatusOr<std::vector<Event>> ParseHistory(std::string_view text) {
  std::vector<Event> events;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(AsAbsl(text), '\n')) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto e = ParseJsonLine(AsStd(line));
    if (!e.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": ", e.status().message()));
    }
    events.push_back(std::move(*e));
  }
  return events;
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendQuoted(&out, s);
  return out;
}

std::string JsonStringList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendQuoted(&out, items[i]);
  }
  out.push_back(']');
  return out;
}

std::vector<std::string> SplitSet(std::string_view value) {
  std::vector<std::string> out =
      absl::StrSplit(AsAbsl(value), ' ', absl::SkipEmpty());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string JoinSet(const std::vector<std::string>& elements) {
  std::string out;
  for (const auto& e : elements) {
    if (!out.empty()) out.push_back(' ');
    out.append(e);
  }
  return out;
}

}  // namespace rumor::chaos
