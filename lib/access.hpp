// The library's way to the implementation behind the public classes, which keep it private
// (a friend struct, as Boost.MySQL's detail::access): users see no impl() in the API.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>

#include <memory>

namespace flowstore::detail {

struct access {
  static const std::shared_ptr<connection_impl>& impl(const connection& c) noexcept { return c.impl_; }
  static const std::shared_ptr<store_impl>& impl(const store& s) noexcept { return s.impl_; }
};

}  // namespace flowstore::detail
