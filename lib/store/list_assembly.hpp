#pragma once

#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace flowstore::detail {

/// What a list's scan made of one revision it delivered.
enum class scanned_as : std::uint8_t { flow, failure, removal };

/// One revision a list's scan delivered: its key and revision, and for a flow or a failure its
/// place in the list's vector of flows or of failures.
struct scanned_revision {
  scanned_revision(std::string key, std::uint64_t revision, scanned_as kind, std::size_t index);

  std::string key;
  std::uint64_t revision;
  scanned_as kind;
  std::size_t index;
  /// The key's first 16 bytes as two big-endian numbers, zero-padded: comparing them orders
  /// keys as comparing the text does, and sorting rarely needs to look at the text itself.
  std::array<std::uint64_t, 2> head;
};

/// Keeps the latest delivered revision of each key — its flow, its failure, or nothing when it
/// is a removal — and sorts the flows and failures kept by key.
///
/// A scan delivers a key more than once when it is written while the scan's consumer is set
/// up. `revisions` holds one element for each flow and each failure, and one for each removal.
void keep_latest_by_key(std::vector<flow>& flows, std::vector<list_failure>& failures,
                        const std::vector<scanned_revision>& revisions);

}  // namespace flowstore::detail
