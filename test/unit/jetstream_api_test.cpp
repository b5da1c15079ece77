// The JetStream API formats the kv layer reads and writes itself: stream info and create,
// consumer create and its reply, fetches, delivery metadata and pull statuses.
#include "kv/jetstream_api.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

using namespace flowstore::detail::kv;
using namespace std::chrono_literals;
using flowstore::errc;

TEST_CASE("jetstream api: a stream info reply gives the bucket's settings and the leader's last sequence",
          "[jetstream_api]") {
  const auto reply = parse_stream_info_reply(
      R"({"type":"io.nats.jetstream.api.v1.stream_info_response","total":0,"offset":0,"limit":0,)"
      R"("config":{"name":"KV_b","subjects":["$KV.b.>"],"retention":"limits","max_consumers":-1,"max_msgs":-1,)"
      R"("max_bytes":-1,"max_age":0,"max_msgs_per_subject":10,"max_msg_size":-1,"discard":"new","storage":"file",)"
      R"("num_replicas":3,"duplicate_window":120000000000,"sealed":false,"deny_delete":true,"deny_purge":false,)"
      R"("allow_rollup_hdrs":true,"allow_direct":true,"mirror_direct":false},)"
      R"("state":{"messages":5,"bytes":100,"first_seq":1,"last_seq":18446744073709551615,"consumer_count":0}})");
  REQUIRE(reply);
  REQUIRE_FALSE(reply->error);
  REQUIRE(reply->info);
  CHECK(reply->info->subjects == std::vector<std::string>{"$KV.b.>"});
  CHECK(reply->info->retention == "limits");
  CHECK(reply->info->storage == "file");
  CHECK_FALSE(reply->info->sealed);
  CHECK(reply->info->allow_direct);
  CHECK(reply->info->max_msgs_per_subject == 10);
  CHECK(reply->info->num_replicas == 3);
  CHECK(reply->info->max_msg_size == -1);
  CHECK(reply->info->last_seq == 18446744073709551615ull);

  const auto missing =
      parse_stream_info_reply(R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})");
  REQUIRE(missing);
  REQUIRE(missing->error);
  CHECK(missing->error->err_code == 10059);
  CHECK(missing->error->description == "stream not found");

  for (const char* bad : {"", "[]", "{", R"({"config":{}})", R"({"state":{}})"}) {
    const auto r = parse_stream_info_reply(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::protocol_error);
  }
}

TEST_CASE("jetstream api: a bucket's stream is created with the settings the NATS clients use", "[jetstream_api]") {
  const std::string body = stream_create_request({"b", "flows \"and\" more", 10, 3, true});
  const auto v = boost::json::parse(body);
  const auto& o = v.as_object();
  CHECK(o.at("name") == "KV_b");
  CHECK(o.at("description") == "flows \"and\" more");
  CHECK(o.at("subjects").as_array().size() == 1);
  CHECK(o.at("subjects").as_array()[0] == "$KV.b.>");
  CHECK(o.at("retention") == "limits");
  CHECK(o.at("max_msgs_per_subject") == 10);
  CHECK(o.at("discard") == "new");
  CHECK(o.at("storage") == "memory");
  CHECK(o.at("num_replicas") == 3);
  CHECK(o.at("deny_delete") == true);
  CHECK(o.at("allow_rollup_hdrs") == true);
  CHECK(o.at("allow_direct") == true);
  CHECK(o.at("max_msg_size") == -1);
  CHECK_FALSE(boost::json::parse(stream_create_request({"b", "", 1, 1, false})).as_object().contains("description"));
}

TEST_CASE("jetstream api: consumer requests and the create reply", "[jetstream_api]") {
  CHECK(consumer_create_subject("KV_b") == "$JS.API.CONSUMER.CREATE.KV_b");
  CHECK(consumer_next_subject("KV_b", "abc") == "$JS.API.CONSUMER.MSG.NEXT.KV_b.abc");
  CHECK(consumer_delete_subject("KV_b", "abc") == "$JS.API.CONSUMER.DELETE.KV_b.abc");
  consumer_config c;
  c.stream = "KV_b";
  c.filter_subject = "$KV.b.team.*";
  c.start = consumer_start::from_sequence;
  c.start_sequence = 42;
  c.inactive_threshold = 30s;
  const auto request = boost::json::parse(consumer_create_request(c)).as_object();
  CHECK(request.at("stream_name") == "KV_b");
  const auto& config = request.at("config").as_object();
  CHECK(config.at("deliver_policy") == "by_start_sequence");
  CHECK(config.at("opt_start_seq") == 42);
  CHECK(config.at("ack_policy") == "none");
  CHECK(config.at("replay_policy") == "instant");
  CHECK(config.at("filter_subject") == "$KV.b.team.*");
  CHECK(config.at("inactive_threshold") == 30'000'000'000);
  CHECK(config.at("mem_storage") == true);
  CHECK(config.at("num_replicas") == 1);
  c.start = consumer_start::last_per_subject;
  const auto last = boost::json::parse(consumer_create_request(c)).as_object().at("config").as_object();
  CHECK(last.at("deliver_policy") == "last_per_subject");
  CHECK_FALSE(last.contains("opt_start_seq"));

  const auto reply = parse_consumer_create_reply(
      R"({"type":"io.nats.jetstream.api.v1.consumer_create_response","stream_name":"KV_b","name":"x1Y2",)"
      R"("created":"2026-01-01T00:00:00Z","config":{},"delivered":{"consumer_seq":0,"stream_seq":41},)"
      R"("ack_floor":{"consumer_seq":0,"stream_seq":0},"num_ack_pending":0,"num_redelivered":0,"num_waiting":0,)"
      R"("num_pending":7,"cluster":{"leader":"n1"}})");
  REQUIRE(reply);
  REQUIRE(reply->created);
  CHECK(reply->created->name == "x1Y2");
  CHECK(reply->created->num_pending == 7);
  CHECK(reply->created->delivered_stream_seq == 41);
  const auto refused = parse_consumer_create_reply(
      R"({"error":{"code":400,"err_code":10098,"description":"workqueue stream requires explicit ack"}})");
  REQUIRE(refused);
  REQUIRE(refused->error);
  CHECK(refused->error->err_code == 10098);
  for (const char* bad : {"", "null", R"({"name":"x"})", R"({"name":"","num_pending":1,"delivered":{}})",
                          R"({"name":"x","num_pending":-1,"delivered":{}})"}) {
    const auto r = parse_consumer_create_reply(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::protocol_error);
  }
}

TEST_CASE("jetstream api: a fetch body, and the metadata of a delivered message", "[jetstream_api]") {
  CHECK(pull_request(64, 30s, 5s) == R"({"batch":64,"expires":30000000000,"idle_heartbeat":5000000000})");
  CHECK(pull_request(1, 100ms, 0ms) == R"({"batch":1,"expires":100000000})");

  const auto d = parse_delivery_subject("$JS.ACK.KV_b.x1Y2.1.9001.17.1700000000123456789.4");
  REQUIRE(d);
  CHECK(d->stream == "KV_b");
  CHECK(d->consumer == "x1Y2");
  CHECK(d->stream_seq == 9001);
  CHECK(d->consumer_seq == 17);
  CHECK(d->time_ns == 1700000000123456789);
  CHECK(d->pending == 4);
  for (const char* bad : {"", "$JS.ACK.KV_b.x1Y2.1.9001.17.1700000000123456789", "$JS.ACK.KV_b.x1Y2.1.9001.17.1.4.5",
                          "$JS.ACK.KV_b..1.9001.17.1.4", "$JS.ACK.KV_b.x.1.-9.17.1.4", "$JS.ACK.KV_b.x.1.9.17.1.4x",
                          "_INBOX.abc.1", "$JS.ACK.KV_b.x.1.99999999999999999999999.1.1.1"}) {
    CHECK_FALSE(parse_delivery_subject(bad));
  }
}

TEST_CASE("jetstream api: pull statuses say whether a fetch goes on, is over, or its consumer is gone",
          "[jetstream_api]") {
  CHECK(classify_pull_status(100, "Idle Heartbeat") == pull_status::heartbeat);
  CHECK(classify_pull_status(408, "Request Timeout") == pull_status::expired);
  CHECK(classify_pull_status(404, "No Messages") == pull_status::expired);
  CHECK(classify_pull_status(409, "Message Size Exceeds MaxBytes") == pull_status::batch_bytes);
  CHECK(classify_pull_status(409, "Consumer Deleted") == pull_status::consumer_gone);
  CHECK(classify_pull_status(409, "Leadership Change") == pull_status::leadership);
  CHECK(classify_pull_status(409, "Exceeded MaxWaiting") == pull_status::too_many_waiting);
  CHECK(classify_pull_status(409, "Exceeded MaxRequestBatch of 10") == pull_status::refused);
  CHECK(classify_pull_status(400, "Bad Request - heartbeat value too large") == pull_status::refused);
  CHECK(classify_pull_status(503, "") == pull_status::refused);
}
