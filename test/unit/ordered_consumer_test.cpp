// The ordered pull consumer as a state machine, without a server: feed it the server's replies
// (consumer creates, delivered messages, heartbeats, 408 and 409 statuses, silence, reconnects)
// and check every request and event it asks its driver for.
#include "kv/ordered_consumer.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace flowstore::detail::kv;
using namespace std::chrono_literals;
using kind = consumer_action::kind;
using clock_type = ordered_consumer::clock;
using flowstore::errc;

namespace {

const std::string stream = "KV_b";
const std::string prefix = "$KV.b.";

ordered_consumer_settings scan_settings(std::uint64_t window = 100) {
  ordered_consumer_settings s;
  s.stream = stream;
  s.filter_subject = prefix + ">";
  s.key_prefix = prefix;
  s.start = start_from::last_per_key;
  s.scan = true;
  s.window = window;
  s.expires = 5000ms;
  s.heartbeat = 1000ms;
  s.silence = 5000ms;
  return s;
}

ordered_consumer_settings watch_settings(std::uint64_t window = 4) {
  auto s = scan_settings(window);
  s.scan = false;
  s.expires = 30s;
  s.heartbeat = 5s;
  s.silence = 11s;
  return s;
}

std::string created(const std::string& name, std::uint64_t pending, std::uint64_t start_after = 0) {
  return R"({"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"KV_b","name":")" + name +
         R"(","config":{},"delivered":{"consumer_seq":0,"stream_seq":)" + std::to_string(start_after) +
         R"(},"num_pending":)" + std::to_string(pending) + "}";
}

// A delivered message of consumer `name`; the strings must outlive the returned view.
struct delivery {
  std::string subject;
  std::string reply;
  std::string body;
  std::optional<std::string> operation;
  fetched_message message() const {
    fetched_message m;
    m.subject = subject;
    m.reply = reply;
    m.body = body;
    if (operation) m.operation = *operation;
    return m;
  }
};

delivery delivered(const std::string& name, std::uint64_t stream_seq, std::uint64_t consumer_seq, std::uint64_t pending,
                   const std::string& key = "k", std::string body = "{}") {
  delivery d;
  d.subject = prefix + key;
  d.reply = "$JS.ACK." + stream + "." + name + ".1." + std::to_string(stream_seq) + "." + std::to_string(consumer_seq) +
            ".1700000000000000000." + std::to_string(pending);
  d.body = std::move(body);
  return d;
}

struct status {
  int code;
  std::string description;
  std::optional<std::string> last_consumer{};
  std::optional<std::string> last_stream{};
  fetched_message message() const {
    fetched_message m;
    m.status = code;
    m.description = description;
    if (last_consumer) m.last_consumer = *last_consumer;
    if (last_stream) m.last_stream = *last_stream;
    return m;
  }
};

status heartbeat(std::uint64_t last_consumer, std::uint64_t last_stream) {
  return {100, "Idle Heartbeat", std::to_string(last_consumer), std::to_string(last_stream)};
}

// The actions queued since the last call, taken out.
std::vector<consumer_action> take(ordered_consumer& c) {
  std::vector<consumer_action> out;
  out.swap(c.actions());
  return out;
}

std::vector<kind> kinds(const std::vector<consumer_action>& actions) {
  std::vector<kind> out;
  for (const auto& a : actions) out.push_back(a.what);
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Starts `c` and answers its create; returns the fetch it then opens (or the last action).
consumer_action started(ordered_consumer& c, const std::string& name, std::uint64_t pending, clock_type::time_point now,
                        std::uint64_t start_after = 0) {
  c.start(now);
  auto create = take(c);
  REQUIRE(kinds(create) == std::vector<kind>{kind::create});
  c.on_create_reply(create[0].id, {}, created(name, pending, start_after), now);
  auto after = take(c);
  REQUIRE_FALSE(after.empty());
  return after.back();
}

}  // namespace

TEST_CASE("ordered consumer: a scan creates its consumer, fetches its window and finishes at pending 0",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(scan_settings());
  c.start(now);
  auto create = take(c);
  REQUIRE(kinds(create) == std::vector<kind>{kind::create});
  CHECK(create[0].subject == "$JS.API.CONSUMER.CREATE.KV_b");
  CHECK(contains(create[0].body, R"("deliver_policy":"last_per_subject")"));
  CHECK(contains(create[0].body, R"("ack_policy":"none")"));
  CHECK(contains(create[0].body, R"("filter_subject":"$KV.b.>")"));
  CHECK(contains(create[0].body, R"("mem_storage":true)"));
  CHECK(contains(create[0].body, R"("num_replicas":1)"));

  c.on_create_reply(create[0].id, {}, created("C1", 3), now);
  auto fetch = take(c);
  REQUIRE(kinds(fetch) == std::vector<kind>{kind::fetch});
  CHECK(fetch[0].subject == "$JS.API.CONSUMER.MSG.NEXT.KV_b.C1");
  CHECK(fetch[0].body == R"({"batch":100,"expires":5000000000,"idle_heartbeat":1000000000})");
  CHECK(fetch[0].delay == 5000ms);

  for (std::uint64_t i = 1; i <= 3; ++i) {
    const auto d = delivered("C1", 10 + i, i, 3 - i, "key" + std::to_string(i), "doc" + std::to_string(i));
    c.on_fetch_message(fetch[0].id, d.message(), now);
  }
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::deliver, kind::deliver, kind::deliver, kind::finished,
                                          kind::close_fetch, kind::remove});
  CHECK(out[0].delivered->key == "key1");
  CHECK(out[0].delivered->revision == 11);
  CHECK(out[0].delivered->value == "doc1");
  CHECK(out[0].delivered->operation == entry_operation::put);
  CHECK(out[0].delivered->time == flowstore::timestamp::from_unix(1700000000, 0));
  CHECK(out[2].delivered->key == "key3");
  CHECK(out[4].id == fetch[0].id);
  CHECK(out[5].subject == "$JS.API.CONSUMER.DELETE.KV_b.C1");
  CHECK(c.ended());
}

TEST_CASE("ordered consumer: a scan of nothing finishes at its create reply and fetches nothing",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(scan_settings());
  c.start(now);
  auto create = take(c);
  c.on_create_reply(create[0].id, {}, created("C1", 0), now);
  CHECK(kinds(take(c)) == std::vector<kind>{kind::finished, kind::remove});
  CHECK(c.ended());
}

TEST_CASE("ordered consumer: a scan with a target keeps pulling until it has seen that sequence",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  auto settings = scan_settings();
  settings.reach = 12;  // the stream leader's last sequence; this consumer's replica is behind
  ordered_consumer c(settings);
  const auto fetch = started(c, "C1", 1, now);
  REQUIRE(fetch.what == kind::fetch);
  c.on_fetch_message(fetch.id, delivered("C1", 7, 1, 0).message(), now);
  CHECK(kinds(take(c)) == std::vector<kind>{kind::deliver});  // pending 0, but not caught up
  c.on_fetch_message(fetch.id, heartbeat(1, 9).message(), now);
  CHECK(take(c).empty());
  // The replica catches up: the missing write arrives, and the scan is complete.
  c.on_fetch_message(fetch.id, delivered("C1", 12, 2, 0, "late").message(), now);
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::deliver, kind::finished, kind::close_fetch, kind::remove});
  CHECK(out[0].delivered->key == "late");
}

TEST_CASE("ordered consumer: a heartbeat past the target completes a scan whose last match is older",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  auto settings = scan_settings();
  settings.reach = 30;
  ordered_consumer c(settings);
  const auto fetch = started(c, "C1", 1, now);
  c.on_fetch_message(fetch.id, delivered("C1", 7, 1, 0).message(), now);
  take(c);
  c.on_fetch_message(fetch.id, heartbeat(1, 30).message(), now);
  CHECK(kinds(take(c)) == std::vector<kind>{kind::finished, kind::close_fetch, kind::remove});
}

TEST_CASE("ordered consumer: a consumer-sequence gap makes a new consumer after the last delivered message",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(scan_settings());
  const auto fetch = started(c, "C1", 5, now);
  c.on_fetch_message(fetch.id, delivered("C1", 20, 1, 4).message(), now);
  take(c);
  c.on_fetch_message(fetch.id, delivered("C1", 22, 3, 2).message(), now);  // consumer seq 2 is missing
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::close_fetch, kind::remove, kind::create});
  CHECK(out[1].subject == "$JS.API.CONSUMER.DELETE.KV_b.C1");
  CHECK(contains(out[2].body, R"("deliver_policy":"by_start_sequence")"));
  CHECK(contains(out[2].body, R"("opt_start_seq":21)"));

  c.on_create_reply(out[2].id, {}, created("C2", 4, 20), now);
  auto refetch = take(c);
  REQUIRE(kinds(refetch) == std::vector<kind>{kind::fetch});
  CHECK(refetch[0].subject == "$JS.API.CONSUMER.MSG.NEXT.KV_b.C2");
  CHECK(contains(refetch[0].body, R"("batch":99)"));  // one entry is delivered and not consumed
  // A late message of the old consumer changes nothing.
  c.on_fetch_message(refetch[0].id, delivered("C1", 23, 4, 1).message(), now);
  CHECK(take(c).empty());
  c.on_fetch_message(refetch[0].id, delivered("C2", 21, 1, 3).message(), now);
  auto next = take(c);
  REQUIRE(kinds(next) == std::vector<kind>{kind::deliver});
  CHECK(next[0].delivered->revision == 21);
  CHECK(c.recreations() == 1);
}

TEST_CASE("ordered consumer: a heartbeat counting more deliveries than arrived recreates the consumer",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings());
  const auto fetch = started(c, "C1", 0, now);
  REQUIRE(fetch.what == kind::fetch);
  c.on_fetch_message(fetch.id, delivered("C1", 3, 1, 0).message(), now);
  take(c);
  c.on_fetch_message(fetch.id, heartbeat(1, 3).message(), now);  // consistent: nothing to do
  CHECK(take(c).empty());
  c.on_fetch_message(fetch.id, heartbeat(2, 4).message(), now);  // the server sent a second one
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::close_fetch, kind::remove, kind::create});
  CHECK(contains(out[2].body, R"("opt_start_seq":4)"));
}

TEST_CASE("ordered consumer: 408 and 409 statuses end a fetch, and a lost consumer is made again",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings());
  auto fetch = started(c, "C1", 0, now);
  c.on_fetch_message(fetch.id, status{408, "Request Timeout"}.message(), now);
  auto after_expiry = take(c);
  REQUIRE(kinds(after_expiry) == std::vector<kind>{kind::close_fetch, kind::fetch});
  CHECK(after_expiry[1].id != fetch.id);
  fetch = after_expiry[1];

  c.on_fetch_message(fetch.id, status{409, "Leadership Change"}.message(), now);
  auto after_change = take(c);
  REQUIRE(kinds(after_change) == std::vector<kind>{kind::close_fetch, kind::fetch});
  fetch = after_change[1];

  c.on_fetch_message(fetch.id, status{409, "Exceeded MaxWaiting"}.message(), now);
  auto after_refusal = take(c);
  REQUIRE(kinds(after_refusal) == std::vector<kind>{kind::close_fetch, kind::retry_after});
  c.on_retry_due(now);
  auto retried = take(c);
  REQUIRE(kinds(retried) == std::vector<kind>{kind::fetch});
  fetch = retried[0];

  c.on_fetch_message(fetch.id, status{409, "Consumer Deleted"}.message(), now);
  auto after_delete = take(c);
  REQUIRE(kinds(after_delete) == std::vector<kind>{kind::close_fetch, kind::remove, kind::create});
  CHECK(contains(after_delete[2].body, R"("deliver_policy":"last_per_subject")"));  // nothing delivered yet
}

TEST_CASE("ordered consumer: a watch asks for no more than its window has room for", "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings(4));
  const auto fetch = started(c, "C1", 0, now);
  REQUIRE(fetch.what == kind::fetch);
  CHECK(contains(fetch.body, R"("batch":4)"));
  CHECK(contains(fetch.body, R"("expires":30000000000,"idle_heartbeat":5000000000)"));
  for (std::uint64_t i = 1; i <= 4; ++i) c.on_fetch_message(fetch.id, delivered("C1", i, i, 0).message(), now);
  auto out = take(c);
  // The batch is complete: the fetch is over, and nothing more is asked while the window is full.
  REQUIRE(kinds(out) ==
          std::vector<kind>{kind::deliver, kind::deliver, kind::deliver, kind::deliver, kind::close_fetch});
  CHECK(c.unconsumed() == 4);
  CHECK(c.open_fetches() == 0);
  c.on_consumed(3, now);
  auto more = take(c);
  REQUIRE(kinds(more) == std::vector<kind>{kind::fetch});
  CHECK(contains(more[0].body, R"("batch":3)"));
  c.on_consumed(1, now);
  CHECK(take(c).empty());  // one fetch at a time
  CHECK(c.requested() == 3);
}

TEST_CASE("ordered consumer: a watch reports its initial values once, then goes on", "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings(8));
  const auto fetch = started(c, "C1", 2, now);
  c.on_fetch_message(fetch.id, delivered("C1", 5, 1, 1).message(), now);
  c.on_fetch_message(fetch.id, delivered("C1", 6, 2, 0).message(), now);
  c.on_fetch_message(fetch.id, delivered("C1", 7, 3, 0).message(), now);
  CHECK(kinds(take(c)) == std::vector<kind>{kind::deliver, kind::deliver, kind::initial_done, kind::deliver});
  CHECK(c.initial_done());
  CHECK_FALSE(c.ended());
}

TEST_CASE("ordered consumer: updates only reports the marker at once and resumes after the stream's end",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  auto settings = watch_settings();
  settings.start = start_from::new_only;
  ordered_consumer c(settings);
  c.start(now);
  auto create = take(c);
  CHECK(contains(create[0].body, R"("deliver_policy":"new")"));
  c.on_create_reply(create[0].id, {}, created("C1", 0, 41), now);
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::initial_done, kind::fetch});
  // Lost before anything arrived: the new consumer starts after where "new" began.
  c.on_fetch_ended(out[1].id, errc::timeout, now);
  auto again = take(c);
  REQUIRE(kinds(again) == std::vector<kind>{kind::remove, kind::create});
  CHECK(contains(again[1].body, R"("opt_start_seq":42)"));
}

TEST_CASE("ordered consumer: silence fails a scan and makes a watch's consumer again", "[ordered_consumer]") {
  const auto now = clock_type::now();
  {
    ordered_consumer scan(scan_settings());
    const auto fetch = started(scan, "C1", 10, now);
    scan.on_fetch_ended(fetch.id, errc::timeout, now);
    auto out = take(scan);
    REQUIRE(kinds(out) == std::vector<kind>{kind::remove, kind::failed});
    CHECK(out[1].problem->code == errc::timeout);
    CHECK(contains(out[1].problem->message, "no message for 5000 ms"));
  }
  {
    ordered_consumer watch(watch_settings());
    const auto fetch = started(watch, "C1", 0, now);
    watch.on_fetch_message(fetch.id, delivered("C1", 8, 1, 0).message(), now);
    take(watch);
    watch.on_fetch_ended(fetch.id, errc::timeout, now);
    auto out = take(watch);
    REQUIRE(kinds(out) == std::vector<kind>{kind::remove, kind::create});
    CHECK(contains(out[1].body, R"("opt_start_seq":9)"));
  }
}

TEST_CASE("ordered consumer: a watch waits out a disconnect and resumes after its last message on reconnect",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings());
  const auto fetch = started(c, "C1", 0, now);
  c.on_fetch_message(fetch.id, delivered("C1", 15, 1, 0).message(), now);
  take(c);
  // The connection fails the fetch, then reports the disconnect: no request while it is down.
  c.on_fetch_ended(fetch.id, errc::disconnected, now);
  c.on_disconnected();
  CHECK(take(c).empty());
  c.on_reconnected(now);
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::remove, kind::create});
  CHECK(contains(out[1].body, R"("opt_start_seq":16)"));
  // A scan fails on a disconnect instead.
  ordered_consumer scan(scan_settings());
  started(scan, "S1", 3, now);
  scan.on_disconnected();
  auto failed = take(scan);
  REQUIRE(kinds(failed) == std::vector<kind>{kind::close_fetch, kind::failed});
  CHECK(failed[1].problem->code == errc::disconnected);
}

TEST_CASE("ordered consumer: a watch retries a transient create with growing delays; a scan fails",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(watch_settings());
  c.start(now);
  std::vector<std::chrono::milliseconds> delays;
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto create = take(c);
    REQUIRE(kinds(create) == std::vector<kind>{kind::create});
    c.on_create_reply(create[0].id, errc::timeout, {}, now);
    auto retry = take(c);
    REQUIRE(kinds(retry) == std::vector<kind>{kind::retry_after});
    delays.push_back(retry[0].delay);
    c.on_retry_due(now);
  }
  CHECK(delays.front() == 250ms);
  CHECK(std::is_sorted(delays.begin(), delays.end()));
  CHECK(delays.back() == 5000ms);
  // A JetStream that is unavailable for now is transient too; a refusal is not.
  auto create = take(c);
  c.on_create_reply(
      create[0].id, {},
      R"({"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}})", now);
  CHECK(kinds(take(c)) == std::vector<kind>{kind::retry_after});
  c.on_retry_due(now);
  create = take(c);
  c.on_create_reply(
      create[0].id, {},
      R"({"error":{"code":400,"err_code":10093,"description":"consumer filter subject is not a valid subset of the interest subjects"}})",
      now);
  auto refused = take(c);
  REQUIRE(kinds(refused) == std::vector<kind>{kind::failed});
  CHECK(refused[0].problem->code == errc::server_error);
  CHECK(refused[0].problem->server_text == "consumer filter subject is not a valid subset of the interest subjects");

  ordered_consumer scan(scan_settings());
  scan.start(now);
  auto scan_create = take(scan);
  scan.on_create_reply(scan_create[0].id, {},
                       R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})", now);
  auto scan_failed = take(scan);
  REQUIRE(kinds(scan_failed) == std::vector<kind>{kind::failed});
  CHECK(scan_failed[0].problem->code == errc::configuration_error);
  CHECK(contains(scan_failed[0].problem->message, "JetStream error 10059"));
  CHECK(scan_failed[0].problem->server_code == flowstore::jetstream_errc::stream_not_found);
}

TEST_CASE("ordered consumer: closing ends it without a request; stopping deletes its consumer", "[ordered_consumer]") {
  const auto now = clock_type::now();
  {
    ordered_consumer c(watch_settings());
    started(c, "C1", 0, now);
    c.on_closed();
    auto out = take(c);
    REQUIRE(kinds(out) == std::vector<kind>{kind::failed});
    CHECK(out[0].problem->code == errc::closed);
    c.on_reconnected(now);
    CHECK(take(c).empty());
  }
  {
    ordered_consumer c(watch_settings());
    const auto fetch = started(c, "C1", 0, now);
    c.stop();
    auto out = take(c);
    REQUIRE(kinds(out) == std::vector<kind>{kind::close_fetch, kind::remove});
    CHECK(out[0].id == fetch.id);
    CHECK(out[1].subject == "$JS.API.CONSUMER.DELETE.KV_b.C1");
    c.on_fetch_message(fetch.id, delivered("C1", 1, 1, 0).message(), now);
    CHECK(take(c).empty());
  }
  {
    // Stopped while its create was on the way: the consumer it made is deleted when it arrives.
    ordered_consumer c(watch_settings());
    c.start(now);
    auto create = take(c);
    c.stop();
    CHECK(take(c).empty());
    c.on_create_reply(create[0].id, {}, created("LATE", 0), now);
    auto out = take(c);
    REQUIRE(kinds(out) == std::vector<kind>{kind::remove});
    CHECK(out[0].subject == "$JS.API.CONSUMER.DELETE.KV_b.LATE");
  }
}

TEST_CASE("ordered consumer: a watch paused longer than the server keeps idle consumers makes a new one",
          "[ordered_consumer]") {
  auto now = clock_type::now();
  auto settings = watch_settings(2);
  settings.inactive_threshold = 60s;
  ordered_consumer c(settings);
  const auto fetch = started(c, "C1", 0, now);
  c.on_fetch_message(fetch.id, delivered("C1", 1, 1, 0).message(), now);
  c.on_fetch_message(fetch.id, delivered("C1", 2, 2, 0).message(), now);
  take(c);
  now += 20s;
  c.on_consumed(1, now);
  REQUIRE(kinds(take(c)) == std::vector<kind>{kind::fetch});  // soon enough: the consumer lives
  ordered_consumer paused(settings);
  const auto f2 = started(paused, "P1", 0, now);
  paused.on_fetch_message(f2.id, delivered("P1", 1, 1, 0).message(), now);
  paused.on_fetch_message(f2.id, delivered("P1", 2, 2, 0).message(), now);
  take(paused);
  now += 40s;
  paused.on_consumed(2, now);
  auto out = take(paused);
  REQUIRE(kinds(out) == std::vector<kind>{kind::remove, kind::create});
  CHECK(contains(out[1].body, R"("opt_start_seq":3)"));
}

TEST_CASE("ordered consumer: a delivery without JetStream metadata fails it as a protocol error",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(scan_settings());
  const auto fetch = started(c, "C1", 2, now);
  auto d = delivered("C1", 1, 1, 1);
  d.reply = "$JS.ACK.KV_b.C1.not-a-number";
  c.on_fetch_message(fetch.id, d.message(), now);
  auto out = take(c);
  REQUIRE(kinds(out) == std::vector<kind>{kind::close_fetch, kind::remove, kind::failed});
  CHECK(out[2].problem->code == errc::protocol_error);
}

TEST_CASE("ordered consumer: a scan whose consumer is lost too often fails instead of looping", "[ordered_consumer]") {
  const auto now = clock_type::now();
  ordered_consumer c(scan_settings());
  auto fetch = started(c, "C0", 3, now);
  for (int i = 1; i <= 5; ++i) {
    c.on_fetch_message(fetch.id, status{409, "Consumer Deleted"}.message(), now);
    auto out = take(c);
    REQUIRE(out.back().what == kind::create);
    c.on_create_reply(out.back().id, {}, created("C" + std::to_string(i), 3), now);
    auto next = take(c);
    REQUIRE(kinds(next) == std::vector<kind>{kind::fetch});
    fetch = next[0];
  }
  c.on_fetch_message(fetch.id, status{409, "Consumer Deleted"}.message(), now);
  auto out = take(c);
  REQUIRE(out.back().what == kind::failed);
  CHECK(c.ended());
}

TEST_CASE("ordered consumer: a budgeted scan asks for credit and fetches no more than it was granted",
          "[ordered_consumer]") {
  const auto now = clock_type::now();
  auto settings = scan_settings(100);
  settings.budgeted = true;
  ordered_consumer c(settings);
  c.start(now);
  auto create = take(c);
  c.on_create_reply(create[0].id, {}, created("C1", 50), now);
  auto want = take(c);
  REQUIRE(kinds(want) == std::vector<kind>{kind::want_credit});
  CHECK(want[0].count == 100);
  CHECK(c.grant(30, now) == 0);
  auto fetch = take(c);
  REQUIRE(kinds(fetch) == std::vector<kind>{kind::fetch});
  CHECK(fetch[0].count == 30);
  CHECK(contains(fetch[0].body, R"("batch":30)"));
  for (std::uint64_t i = 1; i <= 30; ++i) c.on_fetch_message(fetch[0].id, delivered("C1", i, i, 50 - i).message(), now);
  auto out = take(c);
  // The batch is complete; more needs more credit, asked for once.
  REQUIRE(out.back().what == kind::want_credit);
  CHECK(out.back().count == 70);  // 30 delivered and not consumed
  CHECK(c.grant(5, now) == 0);
  auto next = take(c);
  REQUIRE(kinds(next) == std::vector<kind>{kind::fetch});
  CHECK(next[0].count == 5);
  // Stopped: credit it still had goes back to the owner, and a late grant is returned whole.
  c.stop();
  CHECK(c.release_credit() == 0);
  CHECK(c.grant(7, now) == 7);
}
