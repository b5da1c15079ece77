#include "store/list_assembly.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>
#include <string_view>
#include <utility>

namespace flowstore::detail {
namespace {

std::uint64_t big_endian(std::string_view bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    value = value << 8 | (i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u);
  }
  return value;
}

bool same_key(const scanned_revision& a, const scanned_revision& b) { return a.head == b.head && a.key == b.key; }

// Moves each flow once along the permutation's cycles (order[i]: where the flow for place i is
// now): a flow is a large object, and sorting the flows themselves would move each about
// log2(n) times.
void permute(std::vector<flow>& flows, std::vector<std::size_t>& order) {
  for (std::size_t start = 0; start < order.size(); ++start) {
    if (order[start] == start) continue;  // in place, or placed along an earlier cycle
    flow held = std::move(flows[start]);
    std::size_t place = start;
    while (order[place] != start) {
      const std::size_t from = order[place];
      flows[place] = std::move(flows[from]);
      order[place] = place;
      place = from;
    }
    flows[place] = std::move(held);
    order[place] = place;
  }
}

}  // namespace

scanned_revision::scanned_revision(std::string k, std::uint64_t r, scanned_as as, std::size_t i)
    : key(std::move(k)), revision(r), kind(as), index(i) {
  const std::string_view text = key;
  head = {big_endian(text.substr(0, 8)), big_endian(text.size() > 8 ? text.substr(8) : std::string_view())};
}

void keep_latest_by_key(std::vector<flow>& flows, std::vector<list_failure>& failures,
                        const std::vector<scanned_revision>& revisions) {
  std::vector<std::size_t> by_key(revisions.size());
  std::iota(by_key.begin(), by_key.end(), std::size_t{0});
  std::sort(by_key.begin(), by_key.end(), [&revisions](std::size_t x, std::size_t y) {
    const scanned_revision& a = revisions[x];
    const scanned_revision& b = revisions[y];
    if (a.head != b.head) return a.head < b.head;
    if (const int c = a.key.compare(b.key); c != 0) return c < 0;
    return a.revision < b.revision;
  });

  std::vector<std::size_t> order;  // the kept flows by key, then the others
  order.reserve(flows.size());
  std::vector<list_failure> kept_failures;
  for (std::size_t i = 0; i < by_key.size(); ++i) {
    const scanned_revision& r = revisions[by_key[i]];
    if (i + 1 < by_key.size() && same_key(r, revisions[by_key[i + 1]])) continue;  // a later one follows
    if (r.kind == scanned_as::flow) order.push_back(r.index);
    if (r.kind == scanned_as::failure) kept_failures.push_back(std::move(failures[r.index]));
  }

  const std::size_t kept = order.size();
  if (kept < flows.size()) {
    std::vector<bool> placed(flows.size());
    for (std::size_t i : order) placed[i] = true;
    for (std::size_t i = 0; i < flows.size(); ++i) {
      if (!placed[i]) order.push_back(i);
    }
  }
  assert(order.size() == flows.size());
  permute(flows, order);
  flows.erase(flows.begin() + static_cast<std::ptrdiff_t>(kept), flows.end());
  failures = std::move(kept_failures);
}

}  // namespace flowstore::detail
