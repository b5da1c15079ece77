// The connection's table of requests waiting for replies, driven without a server or a clock:
// tokens, one-shot and stream requests, deadlines, failing everything, and matching a refused
// publish to its request.
#include "nats/request_table.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using flowstore::detail::request_kind;
using table = flowstore::detail::request_table<std::string>;
using clock_type = table::clock;
using namespace std::chrono_literals;

namespace {

std::vector<std::pair<std::uint64_t, std::string>> expire_at(table& t, clock_type::time_point now) {
  std::vector<std::pair<std::uint64_t, std::string>> expired;
  t.expire(now, [&](std::uint64_t token, std::string w) { expired.emplace_back(token, std::move(w)); });
  return expired;
}

}  // namespace

TEST_CASE("request table: tokens are unique, never 0, and a finished one never matches again", "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  std::set<std::uint64_t> seen;
  std::uint64_t first = 0;
  for (int round = 0; round < 100; ++round) {
    const auto token = t.add("r" + std::to_string(round), request_kind::once, 5000ms, t0, "subject");
    CHECK(token != 0);
    CHECK(seen.insert(token).second);
    if (round == 0) first = token;
    auto taken = t.take(token);
    REQUIRE(taken);
    CHECK(*taken == "r" + std::to_string(round));
    CHECK_FALSE(t.take(token));  // once
  }
  // Every round reused the one slot; the first token still finds nothing.
  CHECK(t.find(first) == nullptr);
  CHECK_FALSE(t.kind_of(first));
  CHECK(t.empty());
  CHECK(t.find(0) == nullptr);
  CHECK(t.find(~std::uint64_t{0}) == nullptr);
}

TEST_CASE("request table: a one-shot request expires exactly at its deadline, in order", "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  const auto a = t.add("a", request_kind::once, 100ms, t0, "s");
  const auto b = t.add("b", request_kind::once, 100ms, t0 + 10ms, "s");
  const auto c = t.add("c", request_kind::once, 300ms, t0, "s");
  REQUIRE(t.next_deadline() == t0 + 100ms);
  CHECK(expire_at(t, t0 + 99ms).empty());
  auto first = expire_at(t, t0 + 100ms);
  REQUIRE(first.size() == 1);
  CHECK(first[0].first == a);
  CHECK(t.next_deadline() == t0 + 110ms);
  t.take(b);  // answered: its deadline no longer counts
  CHECK(t.next_deadline() == t0 + 300ms);
  auto last = expire_at(t, t0 + 1s);
  REQUIRE(last.size() == 1);
  CHECK(last[0].first == c);
  CHECK(t.empty());
  CHECK_FALSE(t.next_deadline());
}

TEST_CASE("request table: a touched stream expires exactly one silence after its last message", "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  const auto s = t.add("fetch", request_kind::stream, 1000ms, t0, "next");
  REQUIRE(t.kind_of(s) == request_kind::stream);
  // Messages keep it alive well past its first deadline, at every spacing.
  auto now = t0;
  for (int i = 1; i <= 60; ++i) {
    now += std::chrono::milliseconds(i % 7 == 0 ? 990 : 37 * (i % 5));
    CHECK(expire_at(t, now).empty());
    t.touch(s, now);
  }
  const auto last_message = now;
  for (auto probe = last_message + 100ms; probe < last_message + 1000ms; probe += 100ms) {
    CHECK(expire_at(t, probe).empty());
  }
  CHECK(t.next_deadline() <= last_message + 1000ms);
  CHECK(expire_at(t, last_message + 999ms).empty());
  auto expired = expire_at(t, last_message + 1000ms);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].first == s);
  CHECK(t.empty());
  // A busy stream queues a deadline per quarter silence, not one per message.
  const auto busy = t.add("busy", request_kind::stream, 1000ms, now, "next");
  for (int i = 0; i < 10'000; ++i) {
    now += 1ms;
    t.touch(busy, now);
    expire_at(t, now);
  }
  CHECK(t.deadline_entries() <= 8);
}

TEST_CASE("request table: take_all empties the table first and hands out requests in the order added",
          "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  std::vector<std::uint64_t> tokens;
  for (int i = 0; i < 10; ++i) tokens.push_back(t.add(std::to_string(i), request_kind::once, 100ms, t0, "s"));
  t.take(tokens[3]);
  tokens.push_back(t.add("10", request_kind::stream, 100ms, t0, "s"));  // reuses slot 3
  std::vector<std::string> order;
  std::vector<std::uint64_t> added_meanwhile;
  t.take_all([&](std::uint64_t token, std::string w) {
    CHECK(t.find(token) == nullptr);
    order.push_back(std::move(w));
    // A waiter told of the failure may start a new request right away.
    if (order.size() == 1) added_meanwhile.push_back(t.add("new", request_kind::once, 100ms, t0, "s"));
  });
  CHECK(order == std::vector<std::string>{"0", "1", "2", "4", "5", "6", "7", "8", "9", "10"});
  REQUIRE(added_meanwhile.size() == 1);
  CHECK(t.size() == 1);
  REQUIRE(t.find(added_meanwhile[0]) != nullptr);
  CHECK(t.next_deadline() == t0 + 100ms);  // the new request's deadline survived
}

TEST_CASE("request table: a refused publish matches the oldest live request to its subject", "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  const auto a = t.add("a", request_kind::once, 100ms, t0, "$KV.b.x");
  const auto b = t.add("b", request_kind::once, 100ms, t0, "$KV.b.y");
  const auto c = t.add("c", request_kind::once, 100ms, t0, "$KV.b.x");
  CHECK(t.oldest_with_subject("$KV.b.x") == a);
  t.take(a);
  CHECK(t.oldest_with_subject("$KV.b.x") == c);
  CHECK(t.oldest_with_subject("$KV.b.y") == b);
  CHECK_FALSE(t.oldest_with_subject("$KV.b.z"));
  REQUIRE(t.subject_of(c) != nullptr);
  CHECK(*t.subject_of(c) == "$KV.b.x");
}

TEST_CASE("request table: deadline bookkeeping stays small while requests are answered in order", "[request_table]") {
  table t;
  auto now = clock_type::now();
  std::vector<std::uint64_t> in_flight;
  std::size_t most = 0;
  for (int i = 0; i < 100'000; ++i) {
    in_flight.push_back(t.add("r", request_kind::once, 5000ms, now, "s"));
    if (in_flight.size() > 256) {
      t.take(in_flight.front());
      in_flight.erase(in_flight.begin());
    }
    now += 1us;
    most = std::max(most, t.deadline_entries());
  }
  CHECK(t.size() == 256);
  CHECK(most <= 258);
}

TEST_CASE("request table: with several timeout lengths the next deadline is the earliest of all", "[request_table]") {
  table t;
  const auto t0 = clock_type::now();
  t.add("long", request_kind::once, 5000ms, t0, "s");
  const auto short_one = t.add("short", request_kind::once, 50ms, t0 + 1ms, "s");
  CHECK(t.next_deadline() == t0 + 51ms);
  auto expired = expire_at(t, t0 + 60ms);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].first == short_one);
  CHECK(t.next_deadline() == t0 + 5000ms);
}
