// What a store shares between its copies and its watchers.
#pragma once

#include <flowstore/store.hpp>

#include "kv/bucket.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

namespace flowstore::detail {

/// The versions this store stored or read at recent revisions. update() of a flow carrying a
/// revision found here checks the flow's version against it without a round trip; any other
/// flow is checked against the stored one it reads first. A revision is a stream sequence, so it
/// names one document of the bucket for good. Bounded (older entries are overwritten) and
/// thread-safe.
class revision_memo {
 public:
  void remember(std::uint64_t revision, std::int64_t version) noexcept {
    std::lock_guard lock(mutex_);
    slots_[revision % slots_.size()] = {revision, version};
  }

  template <class Range, class Project>
  void remember_all(const Range& range, Project&& project) noexcept {
    std::lock_guard lock(mutex_);
    for (const auto& item : range) {
      const auto [revision, version] = project(item);
      slots_[revision % slots_.size()] = {revision, version};
    }
  }

  std::optional<std::int64_t> version_at(std::uint64_t revision) const noexcept {
    std::lock_guard lock(mutex_);
    const slot& s = slots_[revision % slots_.size()];
    if (s.revision != revision || revision == 0) return std::nullopt;
    return s.version;
  }

 private:
  struct slot {
    std::uint64_t revision = 0;
    std::int64_t version = 0;
  };
  mutable std::mutex mutex_;
  std::array<slot, 16384> slots_{};
};

class store_impl {
 public:
  store_impl(kv::bucket b, bool validate) : bucket(std::move(b)), validate_writes(validate) {}
  kv::bucket bucket;
  const bool validate_writes;
  revision_memo versions;
};

}  // namespace flowstore::detail
