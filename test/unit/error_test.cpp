#include <flowstore/error.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

using flowstore::condition;
using flowstore::errc;

namespace {

struct classified {
  errc code;
  condition expected;
  const char* name;
};

// Every enumerator of flowstore::errc with the group error.hpp puts it in.
const std::vector<classified>& all_codes() {
  static const std::vector<classified> codes = {
      {errc::validation_failed, condition::invalid, "validation_failed"},
      {errc::invalid_id, condition::invalid, "invalid_id"},
      {errc::not_found, condition::invalid, "not_found"},
      {errc::already_exists, condition::invalid, "already_exists"},
      {errc::conflict, condition::invalid, "conflict"},
      {errc::too_large, condition::invalid, "too_large"},
      {errc::invalid_argument, condition::invalid, "invalid_argument"},
      {errc::permission_denied, condition::invalid, "permission_denied"},
      {errc::authentication_failed, condition::invalid, "authentication_failed"},
      {errc::already_running, condition::invalid, "already_running"},
      {errc::invalid_state, condition::invalid, "invalid_state"},
      {errc::timeout, condition::transient, "timeout"},
      {errc::disconnected, condition::transient, "disconnected"},
      {errc::no_responders, condition::transient, "no_responders"},
      {errc::jetstream_unavailable, condition::transient, "jetstream_unavailable"},
      {errc::connection_failed, condition::transient, "connection_failed"},
      {errc::cancelled, condition::transient, "cancelled"},
      {errc::closed, condition::transient, "closed"},
      {errc::corrupt_data, condition::fatal, "corrupt_data"},
      {errc::encode_failed, condition::fatal, "encode_failed"},
      {errc::server_error, condition::fatal, "server_error"},
      {errc::protocol_error, condition::fatal, "protocol_error"},
      {errc::configuration_error, condition::fatal, "configuration_error"},
  };
  return codes;
}

// A foreign category whose own default_error_condition maps onto flowstore's conditions.
class mapped_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "test.mapped"; }
  std::string message(int) const override { return "mapped"; }
  std::error_condition default_error_condition(int value) const noexcept override {
    if (value == 1) return flowstore::make_error_condition(condition::transient);
    if (value == 2) return flowstore::make_error_condition(condition::invalid);
    return {value, *this};
  }
};

const mapped_category& mapped() {
  static const mapped_category instance;
  return instance;
}

}  // namespace

TEST_CASE("errc enumerators have the documented numeric values", "[error]") {
  CHECK(static_cast<int>(errc::validation_failed) == 1);
  CHECK(static_cast<int>(errc::already_running) == 10);
  CHECK(static_cast<int>(errc::invalid_state) == 11);
  CHECK(static_cast<int>(errc::timeout) == 100);
  CHECK(static_cast<int>(errc::closed) == 106);
  CHECK(static_cast<int>(errc::corrupt_data) == 200);
  CHECK(static_cast<int>(errc::configuration_error) == 204);
  CHECK(all_codes().size() == 23);
}

TEST_CASE("every errc maps to its documented condition", "[error]") {
  for (const classified& c : all_codes()) {
    INFO("errc::" << c.name);
    const std::error_code ec = flowstore::make_error_code(c.code);
    CHECK(flowstore::condition_of(ec) == c.expected);

    CHECK((ec == c.expected) == true);
    CHECK((ec == condition::invalid) == (c.expected == condition::invalid));
    CHECK((ec == condition::transient) == (c.expected == condition::transient));
    CHECK((ec == condition::fatal) == (c.expected == condition::fatal));
    CHECK((ec != c.expected) == false);

    // Implicit conversion through is_error_code_enum gives the same code.
    const std::error_code implicit = c.code;
    CHECK(implicit == ec);
    CHECK(implicit == c.code);

    // The category's default condition is the flowstore condition.
    const std::error_condition def = ec.default_error_condition();
    CHECK(def.category() == flowstore::condition_category());
    CHECK(def.value() == static_cast<int>(c.expected));
    CHECK(def == flowstore::make_error_condition(c.expected));
  }
}

TEST_CASE("every errc has a non-empty, distinct message", "[error]") {
  std::vector<std::string> seen;
  for (const classified& c : all_codes()) {
    INFO("errc::" << c.name);
    const std::error_code ec = flowstore::make_error_code(c.code);
    const std::string msg = ec.message();
    CHECK_FALSE(msg.empty());
    CHECK(msg.find("unknown") == std::string::npos);
    for (const std::string& other : seen) CHECK(msg != other);
    seen.push_back(msg);
  }
  CHECK(flowstore::make_error_code(errc::not_found).message() == "flow not found");
  CHECK(flowstore::make_error_code(errc::timeout).message() == "operation timed out");
  CHECK(flowstore::make_error_code(errc::corrupt_data).message() == "stored document is not a valid flow");
  CHECK(std::error_code(999, flowstore::error_category()).message() == "unknown flowstore error 999");
}

TEST_CASE("categories have their names and the condition messages", "[error]") {
  const std::error_code ec = flowstore::make_error_code(errc::conflict);
  CHECK(std::string(ec.category().name()) == "flowstore");
  CHECK(&ec.category() == &flowstore::error_category());
  CHECK(ec.value() == static_cast<int>(errc::conflict));

  const std::error_condition cond = flowstore::make_error_condition(condition::transient);
  CHECK(std::string(cond.category().name()) == "flowstore.condition");
  CHECK(&cond.category() == &flowstore::condition_category());
  CHECK(cond.value() == 2);

  for (condition c : {condition::invalid, condition::transient, condition::fatal}) {
    CHECK_FALSE(flowstore::make_error_condition(c).message().empty());
  }
  CHECK(flowstore::make_error_condition(condition::invalid).message() == "invalid input; retrying cannot help");
  CHECK(flowstore::make_error_condition(condition::transient).message() ==
        "temporarily unavailable; a retry may succeed");
  CHECK(flowstore::make_error_condition(condition::fatal).message() == "data or programming error");
}

TEST_CASE("a foreign error code falls back to condition fatal", "[error]") {
  const std::error_code timed_out = std::make_error_code(std::errc::timed_out);
  CHECK(flowstore::condition_of(timed_out) == condition::fatal);
  CHECK(timed_out == condition::fatal);
  CHECK_FALSE(timed_out == condition::transient);
  CHECK_FALSE(timed_out == condition::invalid);
  // Its own meaning is untouched.
  CHECK(timed_out == std::errc::timed_out);

  const std::error_code system = std::error_code(5, std::system_category());
  CHECK(flowstore::condition_of(system) == condition::fatal);
  CHECK(system == condition::fatal);

  const std::error_code none;  // a default (success) code is classified by the same fallback
  CHECK(flowstore::condition_of(none) == condition::fatal);
}

TEST_CASE("a foreign category that maps onto flowstore conditions is classified by it", "[error]") {
  const std::error_code transient(1, mapped());
  CHECK(flowstore::condition_of(transient) == condition::transient);
  CHECK(transient == condition::transient);
  CHECK_FALSE(transient == condition::fatal);

  const std::error_code invalid(2, mapped());
  CHECK(flowstore::condition_of(invalid) == condition::invalid);
  CHECK(invalid == condition::invalid);

  const std::error_code other(3, mapped());
  CHECK(flowstore::condition_of(other) == condition::fatal);
  CHECK(other == condition::fatal);
}

TEST_CASE("error holds code, message and server text", "[error]") {
  const flowstore::error plain{errc::not_found, "get flow 'f1': flow not found"};
  CHECK(plain.code == errc::not_found);
  CHECK(plain.message == "get flow 'f1': flow not found");
  CHECK(plain.server_text.empty());
  CHECK(plain.what() == "get flow 'f1': flow not found");
  CHECK(plain == errc::not_found);
  CHECK_FALSE(plain == errc::conflict);
  CHECK(plain == condition::invalid);
  CHECK_FALSE(plain == condition::transient);

  const flowstore::error with_server{errc::server_error, "put flow 'f1'", "insufficient resources"};
  CHECK(with_server.server_text == "insufficient resources");
  CHECK(with_server.what() == "put flow 'f1' (server: insufficient resources)");
  CHECK(with_server == condition::fatal);

  const flowstore::error from_code{std::make_error_code(std::errc::timed_out), "x", "y"};
  CHECK(from_code.code == std::errc::timed_out);
  CHECK(from_code == condition::fatal);
  CHECK(from_code.what() == "x (server: y)");

  const flowstore::error empty;
  CHECK_FALSE(empty.code);
  CHECK(empty.what().empty());
}

TEST_CASE("result<T> gives access to its value", "[error]") {
  flowstore::result<std::string> r = std::string("hello");
  REQUIRE(r.has_value());
  CHECK(static_cast<bool>(r));
  CHECK_FALSE(r.has_error());
  CHECK(*r == "hello");
  CHECK(r->size() == 5);
  CHECK(r.value() == "hello");

  *r += "!";
  CHECK(r.value() == "hello!");
  r->append("?");
  CHECK(*r == "hello!?");

  const flowstore::result<std::string>& cr = r;
  CHECK(*cr == "hello!?");
  CHECK(cr->size() == 7);

  std::string moved = *std::move(r);
  CHECK(moved == "hello!?");

  CHECK_THROWS_AS(flowstore::result<int>(5).error(), std::logic_error);
}

TEST_CASE("result<T> holding an error throws flowstore::exception on access", "[error]") {
  flowstore::result<std::string> r = flowstore::error{errc::conflict, "update flow 'f1': stale version 3"};
  REQUIRE_FALSE(r.has_value());
  CHECK_FALSE(static_cast<bool>(r));
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::conflict);
  CHECK(r.error() == condition::invalid);
  CHECK(r.error().message == "update flow 'f1': stale version 3");

  const auto check_thrown = [](const flowstore::exception& e) {
    CHECK(e.code() == errc::conflict);
    CHECK(e.code() == flowstore::make_error_code(errc::conflict));
    CHECK(std::string(e.what()).find("update flow 'f1': stale version 3") != std::string::npos);
  };

  try {
    (void)r.value();
    FAIL("value() did not throw");
  } catch (const flowstore::exception& e) {
    check_thrown(e);
  }
  try {
    (void)*r;
    FAIL("operator* did not throw");
  } catch (const flowstore::exception& e) {
    check_thrown(e);
  }
  try {
    (void)r->size();
    FAIL("operator-> did not throw");
  } catch (const flowstore::exception& e) {
    check_thrown(e);
  }
  const flowstore::result<std::string>& cr = r;
  CHECK_THROWS_AS(*cr, flowstore::exception);
  CHECK_THROWS_AS(cr->size(), flowstore::exception);
  CHECK_THROWS_AS(*std::move(r), flowstore::exception);

  // flowstore::exception is a std::system_error.
  CHECK_THROWS_AS(flowstore::result<int>(flowstore::error{errc::timeout, "t"}).value(), std::system_error);
}

TEST_CASE("the exception message includes the server text", "[error]") {
  flowstore::result<int> r = flowstore::error{errc::permission_denied, "get flow 'f1'", "Permissions Violation"};
  try {
    (void)r.value();
    FAIL("value() did not throw");
  } catch (const flowstore::exception& e) {
    const std::string what = e.what();
    CHECK(what.find("get flow 'f1' (server: Permissions Violation)") != std::string::npos);
    CHECK(e.code() == errc::permission_denied);
    CHECK(e.code() == condition::invalid);
  }
}

TEST_CASE("result<void> success and failure", "[error]") {
  flowstore::result<void> ok = flowstore::success();
  CHECK(ok.has_value());
  CHECK(static_cast<bool>(ok));
  CHECK_FALSE(ok.has_error());
  CHECK_NOTHROW(ok.value());
  CHECK_THROWS_AS(ok.error(), std::logic_error);

  flowstore::result<void> failed = flowstore::error{errc::closed, "store closed"};
  CHECK_FALSE(failed.has_value());
  CHECK_FALSE(static_cast<bool>(failed));
  REQUIRE(failed.has_error());
  CHECK(failed.error() == errc::closed);
  CHECK(failed.error() == condition::transient);
  CHECK(failed.error().message == "store closed");
  try {
    failed.value();
    FAIL("value() did not throw");
  } catch (const flowstore::exception& e) {
    CHECK(e.code() == errc::closed);
    CHECK(std::string(e.what()).find("store closed") != std::string::npos);
  }
}

TEST_CASE("JetStream error codes keep their value and map to the documented conditions", "[error]") {
  using flowstore::jetstream_errc;
  struct expected_mapping {
    jetstream_errc code;
    int value;
    condition expected;
  };
  const std::vector<expected_mapping> mappings = {
      {jetstream_errc::bad_request, 10003, condition::fatal},
      {jetstream_errc::cluster_no_peers, 10005, condition::fatal},
      {jetstream_errc::cluster_not_available, 10008, condition::transient},
      {jetstream_errc::insufficient_resources, 10023, condition::transient},
      {jetstream_errc::no_message_found, 10037, condition::invalid},
      {jetstream_errc::not_enabled_for_account, 10039, condition::transient},
      {jetstream_errc::message_exceeds_maximum, 10054, condition::invalid},
      {jetstream_errc::stream_name_in_use, 10058, condition::fatal},
      {jetstream_errc::stream_not_found, 10059, condition::fatal},
      {jetstream_errc::wrong_last_sequence, 10071, condition::invalid},
      {jetstream_errc::replicas_not_supported, 10074, condition::fatal},
      {jetstream_errc::not_enabled, 10076, condition::transient},
      {jetstream_errc::store_failed, 10077, condition::transient},
  };
  std::vector<std::string> messages;
  for (const auto& m : mappings) {
    INFO(m.value);
    const std::error_code ec = flowstore::make_error_code(m.code);
    CHECK(ec.value() == m.value);
    CHECK(&ec.category() == &flowstore::jetstream_category());
    CHECK(flowstore::condition_of(ec) == m.expected);
    CHECK(ec == m.expected);
    // A code as the server sends it is the same code as the enumerator.
    CHECK(std::error_code(m.value, flowstore::jetstream_category()) == m.code);
    // Never equal to the flowstore code it is mapped to: that is error::code's job.
    CHECK_FALSE(ec == errc::conflict);
    CHECK_FALSE(ec.message().empty());
    messages.push_back(ec.message());
  }
  std::sort(messages.begin(), messages.end());
  CHECK(std::adjacent_find(messages.begin(), messages.end()) == messages.end());

  CHECK(std::string(flowstore::jetstream_category().name()) == "flowstore.jetstream");
  CHECK(flowstore::make_error_code(jetstream_errc::wrong_last_sequence).message() == "wrong last sequence");
  // A code the library does not name is kept and is fatal.
  const std::error_code unknown(10999, flowstore::jetstream_category());
  CHECK(unknown.message() == "JetStream error 10999");
  CHECK(flowstore::condition_of(unknown) == condition::fatal);
}

TEST_CASE("an error carries the server's code beside its own", "[error]") {
  flowstore::error refused{errc::conflict, "update flow 'f': conflict", "wrong last sequence: 7"};
  CHECK_FALSE(refused.server_code);
  refused.server_code = flowstore::jetstream_errc::wrong_last_sequence;
  CHECK(refused == errc::conflict);
  CHECK(refused.server_code == flowstore::jetstream_errc::wrong_last_sequence);
  CHECK(refused.what() == "update flow 'f': conflict (server: wrong last sequence: 7)");
}
