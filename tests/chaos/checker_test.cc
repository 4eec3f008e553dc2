#include "tests/chaos/checker.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/chaos/history.h"

namespace rumor::chaos {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A little history builder: each op is an invoke and its completion.
class History {
 public:
  History& Op(int p, const std::string& type, const std::string& f,
              const std::string& key, const std::string& value,
              std::vector<std::string> read = {}, bool has_read = false) {
    Event e;
    e.t = t_ += 1;
    e.process = p;
    e.type = "invoke";
    e.f = f;
    e.key = key;
    e.value = value;
    events_.push_back(e);
    e.t = t_ += 1;
    e.type = type;
    e.read = std::move(read);
    e.has_read = has_read || !e.read.empty();
    events_.push_back(e);
    return *this;
  }
  History& Add(const std::string& type, const std::string& key,
               const std::string& value) {
    return Op(0, type, "add", key, value);
  }
  History& Write(const std::string& type, const std::string& key,
                 const std::string& value, std::vector<std::string> read = {}) {
    return Op(0, type, "write", key, value, std::move(read), true);
  }
  History& Delete(const std::string& type, const std::string& key,
                  std::vector<std::string> read) {
    return Op(0, type, "delete", key, "", std::move(read), true);
  }
  History& Final(const std::string& key, const std::string& node,
                 std::vector<std::string> values, const std::string& error = "") {
    Event e;
    e.t = t_ += 1;
    e.process = -1;
    e.type = "final";
    e.f = "read";
    e.key = key;
    e.node = node;
    e.values = std::move(values);
    e.error = error;
    events_.push_back(e);
    return *this;
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  double t_ = 0;
  std::vector<Event> events_;
};

TEST(SetCheck, AcknowledgedElementsPresentEverywherePass) {
  History h;
  h.Add("ok", "s", "0.1").Add("ok", "s", "0.2").Add("fail", "s", "0.3");
  h.Final("s", "n1", {"0.1 0.2"}).Final("s", "n2", {"0.1", "0.2"});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.acked, 2);
  EXPECT_EQ(r.lost, 0);
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.final_reads, 2);
  // Two sibling values on n2 are one set, the same as n1's.
  EXPECT_EQ(r.divergent, 0);
  EXPECT_EQ(r.max_siblings, 2);
}

TEST(SetCheck, AnAcknowledgedElementMissingOnOneNodeIsLost) {
  History h;
  h.Add("ok", "s", "0.1").Add("ok", "s", "0.2");
  h.Final("s", "n1", {"0.1 0.2"}).Final("s", "n2", {"0.1"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.lost, 1);
  EXPECT_EQ(r.divergent, 1);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_THAT(r.problems[0], HasSubstr("lost: add 0.2"));
  EXPECT_THAT(r.problems[0], HasSubstr("n2"));
}

TEST(SetCheck, AnElementNeverAddedIsUnexpected) {
  History h;
  h.Add("ok", "s", "0.1");
  h.Final("s", "n1", {"0.1 9.9"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.unexpected, 1);
  EXPECT_EQ(r.lost, 0);
}

TEST(SetCheck, IndeterminateAddsMayBePresentOrAbsent) {
  History h;
  h.Add("info", "s", "0.1").Add("info", "s", "0.2").Add("ok", "s", "0.3");
  h.Final("s", "n1", {"0.1 0.3"});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.recovered, 1);
  EXPECT_EQ(r.indeterminate, 2);
}

TEST(SetCheck, AnInvokeThatNeverCompletedIsIndeterminate) {
  History h;
  h.Add("ok", "s", "0.1");
  Event dangling;
  dangling.t = 99;
  dangling.process = 4;
  dangling.type = "invoke";
  dangling.f = "add";
  dangling.key = "s";
  dangling.value = "4.1";
  std::vector<Event> events = h.events();
  events.push_back(dangling);
  Event final;
  final.type = "final";
  final.f = "read";
  final.key = "s";
  final.node = "n1";
  final.values = {"0.1 4.1"};
  events.push_back(final);
  Report r = Check(events);
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.indeterminate, 1);
  EXPECT_EQ(r.recovered, 1);
}

TEST(RegisterCheck, AValueReplacedByAnAcknowledgedWriteIsAccountedFor) {
  History h;
  h.Write("ok", "r", "0.1").Write("ok", "r", "0.2", {"0.1"});
  h.Final("r", "n1", {"0.2"});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.acked, 2);
}

TEST(RegisterCheck, AnAcknowledgedWriteThatVanishedIsLost) {
  History h;
  h.Write("ok", "r", "0.1");
  h.Final("r", "n1", {});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.lost, 1);
}

TEST(RegisterCheck, ADeleteAccountsForWhatItRead) {
  History h;
  h.Write("ok", "r", "0.1").Delete("ok", "r", {"0.1"});
  h.Final("r", "n1", {});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
}

TEST(RegisterCheck, AReplacementThatDidNotSurviveDoesNotAccount) {
  // 0.2 may have replaced 0.1, but 0.2 is not there either and nothing
  // replaced it: 0.1 was lost.
  History h;
  h.Write("ok", "r", "0.1").Write("info", "r", "0.2", {"0.1"});
  h.Final("r", "n1", {});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.lost, 1);
}

TEST(RegisterCheck, ChainsOfReplacementsAreFollowed) {
  History h;
  h.Write("ok", "r", "0.1")
      .Write("info", "r", "0.2", {"0.1"})
      .Write("ok", "r", "0.3", {"0.2"});
  h.Final("r", "n1", {"0.3"});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.recovered, 1);  // 0.2 took effect: 0.3 replaced it
}

TEST(RegisterCheck, ConcurrentWritesStayAsSiblings) {
  History h;
  h.Write("ok", "r", "0.1").Write("ok", "r", "1.1");
  h.Final("r", "n1", {"0.1", "1.1"}).Final("r", "n2", {"1.1", "0.1"});
  Report r = Check(h.events());
  EXPECT_TRUE(r.Passed()) << r.ToText();
  EXPECT_EQ(r.max_siblings, 2);
}

TEST(RegisterCheck, AValueAnAcknowledgedWriteReplacedMustNotComeBack) {
  History h;
  h.Write("ok", "r", "0.1").Write("ok", "r", "0.2", {"0.1"});
  h.Final("r", "n1", {"0.1", "0.2"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.resurrected, 1);
}

TEST(RegisterCheck, ADeletedValueMustNotComeBack) {
  History h;
  h.Write("ok", "r", "0.1").Delete("ok", "r", {"0.1"});
  h.Final("r", "n1", {"0.1"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.resurrected, 1);
}

TEST(RegisterCheck, ReadsOfValuesNobodyWroteAreUnexpected) {
  History h;
  h.Write("ok", "r", "0.1");
  Event read;
  read.t = 50;
  read.process = 1;
  read.type = "invoke";
  read.f = "read";
  read.key = "r";
  std::vector<Event> events = h.events();
  events.push_back(read);
  read.type = "ok";
  read.values = {"7.7"};
  events.push_back(read);
  Event final;
  final.type = "final";
  final.key = "r";
  final.node = "n1";
  final.values = {"0.1"};
  events.push_back(final);
  Report r = Check(events);
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.unexpected, 1);
}

TEST(Check, AFailedOperationWhoseValueIsThereFails) {
  // "fail" must mean not applied: an add or write reported failed but
  // present means an outcome was misreported.
  History h;
  h.Add("fail", "s", "0.1").Write("fail", "r", "0.2");
  h.Final("s", "n1", {"0.1"}).Final("r", "n1", {"0.2"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.failed_present, 2);
  EXPECT_EQ(r.unexpected, 0);
}

TEST(Check, AKeyWithoutAFinalReadFails) {
  History h;
  h.Add("ok", "s", "0.1").Write("ok", "r", "0.1");
  h.Final("s", "n1", {"0.1"});
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.unchecked, 1);
}

TEST(Check, AFailedFinalReadFails) {
  History h;
  h.Add("ok", "s", "0.1");
  h.Final("s", "n1", {"0.1"}).Final("s", "n2", {}, "UNAVAILABLE: down");
  Report r = Check(h.events());
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.unchecked, 1);
  ASSERT_FALSE(r.problems.empty());
  EXPECT_THAT(r.problems[0], HasSubstr("n2"));
}

TEST(Check, ReplicasStillDifferingAfterConvergenceAreDivergent) {
  History h;
  h.Add("ok", "s", "0.1");
  h.Final("s", "n1", {"0.1"});
  std::vector<Event> events = h.events();
  auto converge = ParseJsonLine(
      R"({"t":9,"p":-1,"type":"converge","seconds":180.0,"converged":false,"divergent":["s"]})");
  ASSERT_TRUE(converge.ok()) << converge.status();
  events.push_back(*converge);
  Report r = Check(events);
  EXPECT_FALSE(r.Passed());
  EXPECT_EQ(r.divergent, 1);
  EXPECT_FALSE(r.converged);
  EXPECT_DOUBLE_EQ(r.converge_seconds, 180.0);
}

TEST(Check, AnEmptyHistoryDoesNotPass) {
  EXPECT_FALSE(Check({}).Passed());
}

TEST(History, LinesRoundTrip) {
  Event e;
  e.t = 12.25;
  e.process = 3;
  e.type = "info";
  e.f = "write";
  e.key = "r\"1";
  e.value = "3.17";
  e.read = {"a b", "tab\there", "nl\n"};
  e.has_read = true;
  e.node = "127.0.0.1:7379";
  e.error = "DEADLINE_EXCEEDED: \\ slow \x01";
  e.extra = {{"siblings", "2"}};
  auto back = ParseJsonLine(ToJsonLine(e));
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << ToJsonLine(e);
  EXPECT_DOUBLE_EQ(back->t, 12.25);
  EXPECT_EQ(back->process, 3);
  EXPECT_EQ(back->type, "info");
  EXPECT_EQ(back->f, "write");
  EXPECT_EQ(back->key, e.key);
  EXPECT_EQ(back->value, e.value);
  EXPECT_EQ(back->read, e.read);
  EXPECT_TRUE(back->has_read);
  EXPECT_EQ(back->node, e.node);
  EXPECT_EQ(back->error, e.error);
  EXPECT_THAT(back->extra, ElementsAre(std::pair<std::string, std::string>(
                               "siblings", "2")));
}

TEST(History, MalformedLinesAreRefusedWithTheirLineNumber) {
  auto h = ParseHistory("{\"type\":\"ok\",\"t\":1}\n\n{\"type\":\"ok\",\"t\":}\n");
  ASSERT_FALSE(h.ok());
  EXPECT_THAT(std::string(h.status().message()), HasSubstr("line 3"));
  EXPECT_FALSE(ParseJsonLine("{\"t\":1}").ok());  // no type
  EXPECT_FALSE(ParseJsonLine("{\"type\":\"ok\"} trailing").ok());
  EXPECT_FALSE(ParseJsonLine("{\"type\":\"ok\",\"read\":[1]}").ok());
  EXPECT_FALSE(ParseJsonLine("{\"type\":\"ok\",\"t\":12abc}").ok());
}

TEST(History, SetsAreSortedAndUnique) {
  EXPECT_THAT(SplitSet(" 2.1 1.1  2.1 "), ElementsAre("1.1", "2.1"));
  EXPECT_EQ(JoinSet({"1.1", "2.1"}), "1.1 2.1");
  EXPECT_TRUE(SplitSet("").empty());
}

TEST(Timeline, CountsCompletionsPerSecondIncludingQuietSeconds) {
  History h;
  h.Add("ok", "s", "0.1");    // completes at t=2
  h.Add("info", "s", "0.2");  // t=4
  auto rows = Timeline(h.events());
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[2].ok, 1);
  EXPECT_EQ(rows[3].ok + rows[3].fail + rows[3].info, 0);
  EXPECT_EQ(rows[4].info, 1);
}

}  // namespace
}  // namespace rumor::chaos
