#include <flowstore/connection.hpp>

#include "nats/connection_impl.hpp"

namespace flowstore {

namespace asio = boost::asio;

connection::connection(std::shared_ptr<detail::connection_impl> impl) noexcept : impl_(std::move(impl)) {}
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

asio::any_io_executor connection::get_executor() const { return impl_->get_executor(); }
bool connection::is_connected() const { return impl_ && impl_->is_connected(); }
std::int64_t connection::max_payload() const { return impl_->max_payload(); }
std::chrono::milliseconds connection::operation_timeout() const { return impl_->default_timeout(); }

asio::awaitable<void> connection::close() {
  if (impl_) co_await impl_->close();
}

asio::awaitable<result<connection>> connect(asio::any_io_executor executor, connect_options options) {
  auto impl = co_await detail::connection_impl::connect(std::move(executor), std::move(options));
  if (!impl) co_return std::move(impl).error();
  co_return connection(std::move(impl).value());
}

}  // namespace flowstore
