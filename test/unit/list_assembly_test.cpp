// How list() turns the revisions its scan delivered into its result, without a server: each
// key's latest revision, sorted by key.
#include "store/list_assembly.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace flowstore;
using detail::scanned_as;
using detail::scanned_revision;

namespace {

// What a scan delivered, in the order the decoding threads merged it.
struct delivered {
  std::vector<flow> flows;
  std::vector<list_failure> failures;
  std::vector<scanned_revision> revisions;

  void put(const std::string& key, std::uint64_t revision) {
    flow f;
    f.id = key;
    f.name = key + "@" + std::to_string(revision);
    f.revision = revision;
    revisions.emplace_back(key, revision, scanned_as::flow, flows.size());
    flows.push_back(std::move(f));
  }
  void corrupt(const std::string& key, std::uint64_t revision) {
    revisions.emplace_back(key, revision, scanned_as::failure, failures.size());
    failures.push_back({key, error{errc::corrupt_data, key + "@" + std::to_string(revision)}});
  }
  void remove(const std::string& key, std::uint64_t revision) {
    revisions.emplace_back(key, revision, scanned_as::removal, 0);
  }
  void assemble() { detail::keep_latest_by_key(flows, failures, revisions); }
};

std::vector<std::string> names_of(const std::vector<flow>& flows) {
  std::vector<std::string> names;
  for (const auto& f : flows) names.push_back(f.name);
  return names;
}

std::vector<std::string> messages_of(const std::vector<list_failure>& failures) {
  std::vector<std::string> messages;
  for (const auto& f : failures) messages.push_back(f.problem.message);
  return messages;
}

}  // namespace

TEST_CASE("list assembly: flows and failures come out sorted by key, however long the common prefix", "[list]") {
  // Keys that differ only after their first 16 bytes, keys that are prefixes of others, and
  // upper case (which sorts first) all order as their text does.
  const std::vector<std::string> keys{"zeta",
                                      "alpha",
                                      "flows/team-a/0002",
                                      "flows/team-a/0001",
                                      "flows/team-a/00010",
                                      "a",
                                      "a.b",
                                      "A",
                                      "flows/team-a/000",
                                      "b",
                                      "flows/team-a/0001.old",
                                      "flows.team-a.0001"};
  delivered d;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i % 4 == 3) {
      d.corrupt(keys[i], i + 1);
    } else {
      d.put(keys[i], i + 1);
    }
  }
  d.assemble();

  std::vector<std::size_t> by_key(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) by_key[i] = i;
  std::sort(by_key.begin(), by_key.end(), [&keys](std::size_t a, std::size_t b) { return keys[a] < keys[b]; });
  std::vector<std::string> expected_flows;
  std::vector<std::string> expected_failures;
  for (std::size_t i : by_key) {
    (i % 4 == 3 ? expected_failures : expected_flows).push_back(keys[i] + "@" + std::to_string(i + 1));
  }
  CHECK(names_of(d.flows) == expected_flows);
  CHECK(messages_of(d.failures) == expected_failures);
  for (const auto& f : d.failures) CHECK(f.problem.message.rfind(f.id + "@", 0) == 0);
}

TEST_CASE("list assembly: a key delivered twice keeps only its latest revision", "[list]") {
  delivered d;
  d.put("a", 7);  // merged before the older revision: chunks decode in any order
  d.put("a", 3);
  d.put("b", 2);
  d.remove("b", 5);  // removed after it was delivered
  d.corrupt("c", 4);
  d.put("c", 6);  // repaired
  d.put("d", 1);
  d.corrupt("d", 9);  // overwritten with a document that is not a flow
  d.remove("e", 3);   // removed before the scan
  d.remove("f", 2);
  d.put("f", 8);  // created again after a removal
  d.put("g", 4);
  d.assemble();

  CHECK(names_of(d.flows) == std::vector<std::string>{"a@7", "c@6", "f@8", "g@4"});
  CHECK(messages_of(d.failures) == std::vector<std::string>{"d@9"});
}

TEST_CASE("list assembly: thousands of keys with repeats match keeping the latest in a map", "[list]") {
  std::mt19937 random(20261128);
  delivered d;
  std::map<std::string, std::pair<scanned_as, std::uint64_t>> latest;
  for (std::uint64_t revision = 1; revision <= 5000; ++revision) {
    const std::string key = "flow." + std::to_string(random() % 3000);
    const auto roll = random() % 20;
    const scanned_as kind = roll == 0 ? scanned_as::removal : roll == 1 ? scanned_as::failure : scanned_as::flow;
    if (kind == scanned_as::flow) d.put(key, revision);
    if (kind == scanned_as::failure) d.corrupt(key, revision);
    if (kind == scanned_as::removal) d.remove(key, revision);
    latest[key] = {kind, revision};
  }
  // Merged in an order other than the revisions'.
  std::vector<std::size_t> order(d.revisions.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), random);
  std::vector<scanned_revision> shuffled;
  for (std::size_t i : order) shuffled.push_back(d.revisions[i]);
  d.revisions = std::move(shuffled);
  d.assemble();

  std::vector<std::string> expected_flows;
  std::vector<std::string> expected_failures;
  for (const auto& [key, last] : latest) {
    const std::string name = key + "@" + std::to_string(last.second);
    if (last.first == scanned_as::flow) expected_flows.push_back(name);
    if (last.first == scanned_as::failure) expected_failures.push_back(name);
  }
  REQUIRE(expected_flows.size() > 2000);
  REQUIRE_FALSE(expected_failures.empty());
  CHECK(names_of(d.flows) == expected_flows);
  CHECK(messages_of(d.failures) == expected_failures);
}
