// The connection's bound on what its scans may have asked for and not received: grants,
// give-backs, waiters in order, and the size estimate that turns bytes into messages.
#include "nats/fetch_budget.hpp"

#include <catch2/catch.hpp>

#include <vector>

using flowstore::detail::fetch_budget;

TEST_CASE("fetch budget: grants no more than the bytes allow at the estimated size", "[fetch_budget]") {
  fetch_budget b(1000 * 1024, 1024);  // room for 1000 messages of 1 KB
  CHECK(b.take(600) == 600);
  CHECK(b.take(600) == 400);
  CHECK(b.take(1) == 0);
  CHECK(b.outstanding() == 1000);
  b.give_back(100);
  CHECK(b.take(600) == 100);
  b.give_back(10'000);  // more than outstanding: nothing below zero
  CHECK(b.outstanding() == 0);
}

TEST_CASE("fetch budget: something may always be asked for when nothing is outstanding", "[fetch_budget]") {
  fetch_budget b(1024, 1024 * 1024);  // messages larger than the whole budget
  CHECK(b.take(50) == 1);
  CHECK(b.take(50) == 0);
  b.give_back(1);
  CHECK(b.take(50) == 1);
}

TEST_CASE("fetch budget: waiters are called in order once there is room again", "[fetch_budget]") {
  fetch_budget b(4 * 1024, 1024);
  REQUIRE(b.take(4) == 4);
  std::vector<int> woken;
  b.wait([&] { woken.push_back(1); });
  b.wait([&] { woken.push_back(2); });
  CHECK(b.waiting() == 2);
  b.give_back(1);
  CHECK(woken == std::vector<int>{1, 2});  // room for one: each woken asks again itself
  CHECK(b.waiting() == 0);
}

TEST_CASE("fetch budget: the estimate rises at once with a large message and falls slowly", "[fetch_budget]") {
  fetch_budget b(100 * 1024 * 1024, 128 * 1024);
  CHECK(b.estimate() == 128 * 1024);
  b.observe(1024 * 1024);
  CHECK(b.estimate() == 1024 * 1024);
  CHECK(b.take(1000) == 100);  // 100 MB at 1 MB each
  b.give_back(100);
  for (int i = 0; i < 64; ++i) b.observe(1024);
  CHECK(b.estimate() < 1024 * 1024);
  CHECK(b.estimate() > 256 * 1024);  // one small message does not undo a large one
  for (int i = 0; i < 2000; ++i) b.observe(1024);
  CHECK(b.estimate() < 2 * 1024);
}
