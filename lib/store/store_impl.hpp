// What a store shares between its copies and its watchers.
#pragma once

#include <flowstore/store.hpp>

#include "kv/bucket.hpp"

namespace flowstore::detail {

class store_impl {
 public:
  explicit store_impl(kv::bucket b) : bucket(std::move(b)) {}
  kv::bucket bucket;
};

}  // namespace flowstore::detail
