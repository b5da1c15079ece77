// The KV wire rules, without a server: subjects, PubAck and error replies, direct-get and
// message-get replies, header blocks, base64.
#include "kv/protocol.hpp"
#include "nats/header_block.hpp"

#include <catch2/catch.hpp>

using namespace flowstore;
using namespace flowstore::detail::kv;
using flowstore::detail::header_in_block;

TEST_CASE("subjects of a bucket", "[kv]") {
  CHECK(stream_name("semstreams_flows") == "KV_semstreams_flows");
  CHECK(key_subject("b", "team.flow-1") == "$KV.b.team.flow-1");
  CHECK(direct_get_subject("b", "k") == "$JS.API.DIRECT.GET.KV_b.$KV.b.k");
  CHECK(message_get_subject("b") == "$JS.API.STREAM.MSG.GET.KV_b");
  CHECK(valid_bucket_name("semstreams_flows"));
  CHECK(valid_bucket_name("a-B_9"));
  CHECK_FALSE(valid_bucket_name(""));
  CHECK_FALSE(valid_bucket_name("a.b"));
  CHECK_FALSE(valid_bucket_name("a b"));
  CHECK_FALSE(valid_bucket_name("a*"));
}

TEST_CASE("a PubAck gives the new revision", "[kv]") {
  auto reply = parse_publish_reply(R"({"stream":"KV_b", "seq":42})");
  REQUIRE(reply.has_value());
  CHECK(reply->sequence == 42);
  CHECK_FALSE(reply->error.has_value());

  auto duplicate = parse_publish_reply(R"({"stream":"KV_b","seq":7,"duplicate":true})");
  CHECK(duplicate->sequence == 7);
}

TEST_CASE("a wrong-last-sequence reply is an API error", "[kv]") {
  auto reply = parse_publish_reply(
      R"({"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"},"stream":"KV_b","seq":0})");
  REQUIRE(reply.has_value());
  REQUIRE(reply->error.has_value());
  CHECK(reply->error->code == 400);
  CHECK(reply->error->err_code == api_code::wrong_last_sequence);
  CHECK(reply->error->description == "wrong last sequence: 6");
}

TEST_CASE("an API error code that does not fit an int is no code at all", "[kv]") {
  // Found by fuzzing: 4294977367 is 10071 + 2^32 and was truncated to wrong-last-sequence.
  auto reply = parse_publish_reply(R"({"error":{"code":4294967696,"err_code":4294977367,"description":"x: 3"}})");
  REQUIRE(reply.has_value());
  REQUIRE(reply->error.has_value());
  CHECK(reply->error->code == 0);
  CHECK(reply->error->err_code == 0);
  CHECK(code_for_api_error(*reply->error) == errc::server_error);
  auto negative = parse_publish_reply(R"({"error":{"code":-1,"err_code":-2147483649}})");
  CHECK(negative->error->code == -1);
  CHECK(negative->error->err_code == 0);
}

TEST_CASE("malformed publish replies are protocol errors", "[kv]") {
  for (const char* body : {"", "not json", "[]", R"({"stream":"KV_b"})", R"({"seq":0})", R"({"seq":-1})"}) {
    INFO(body);
    auto reply = parse_publish_reply(body);
    REQUIRE_FALSE(reply.has_value());
    CHECK(reply.error().code == errc::protocol_error);
    CHECK(reply.error().code == condition::fatal);
  }
}

TEST_CASE("API errors map to conditions by err_code, never by text", "[kv]") {
  CHECK(code_for_api_error({400, api_code::message_too_large, "whatever"}) == errc::too_large);
  CHECK(code_for_api_error({500, api_code::store_failed, ""}) == condition::transient);
  CHECK(code_for_api_error({503, api_code::jetstream_not_enabled, ""}) == errc::jetstream_unavailable);
  CHECK(code_for_api_error({400, api_code::insufficient_resources, ""}) == condition::transient);
  CHECK(code_for_api_error({404, api_code::stream_not_found, ""}) == errc::configuration_error);
  CHECK(code_for_api_error({503, 0, "JetStream system temporarily unavailable"}) == errc::jetstream_unavailable);
  // The text of a conflict does not make something else a conflict.
  CHECK(code_for_api_error({400, 12345, "wrong last sequence: 6"}) == errc::server_error);
}

TEST_CASE("publish acknowledgements: the plain form read without a parser, anything else parsed", "[kv]") {
  CHECK(parse_publish_reply(R"({"stream":"KV_b","seq":12})")->sequence == 12);
  CHECK(parse_publish_reply(R"({"stream":"KV_b","seq":12,"duplicate":true})")->sequence == 12);
  CHECK(parse_publish_reply(R"({"stream":"KV_b","domain":"hub","seq":9})")->sequence == 9);
  CHECK(parse_publish_reply(R"({"stream": "KV_b", "seq": 13})")->sequence == 13);  // spaced: parsed
  const auto refused = parse_publish_reply(
      R"({"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"},"stream":"KV_b","seq":0})");
  REQUIRE(refused);
  REQUIRE(refused->error);
  CHECK(refused->error->err_code == 10071);
  for (const char* bad : {R"({"stream":"KV_b","seq":0})", R"({"stream":"KV_b","seq":-1})", R"({"stream":"KV_b"})",
                          R"({"stream":"KV_b","seq":1x})", "{", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_publish_reply(bad));
  }
}

TEST_CASE("direct get: found, deleted, purged, missing", "[kv]") {
  const std::string subject = "$KV.b.k";
  direct_get_reply found{std::nullopt, std::nullopt, subject, "12", "2024-05-01T10:20:30.5Z", std::nullopt, "{}"};
  auto e = interpret_direct_get(found, "k", "$KV.b.");
  REQUIRE(e.has_value());
  REQUIRE(e->has_value());
  CHECK((*e)->key == "k");
  CHECK((*e)->revision == 12);
  CHECK((*e)->operation == entry_operation::put);
  CHECK((*e)->time.to_string() == "2024-05-01T10:20:30.5Z");
  CHECK((*e)->value == "{}");

  direct_get_reply deleted = found;
  deleted.operation = "DEL";
  deleted.body = "";
  CHECK((*interpret_direct_get(deleted, "k", "$KV.b."))->operation == entry_operation::del);
  deleted.operation = "PURGE";
  CHECK((*interpret_direct_get(deleted, "k", "$KV.b."))->operation == entry_operation::purge);

  direct_get_reply missing{"404", "Message Not Found", std::nullopt, std::nullopt, std::nullopt, std::nullopt, ""};
  auto none = interpret_direct_get(missing, "k", "$KV.b.");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

TEST_CASE("direct get: other statuses and broken replies are errors", "[kv]") {
  const std::string subject = "$KV.b.k";
  direct_get_reply timeout{"408", "Request Timeout", std::nullopt, std::nullopt, std::nullopt, std::nullopt, ""};
  auto e = interpret_direct_get(timeout, "k", "$KV.b.");
  REQUIRE_FALSE(e.has_value());
  CHECK(e.error().code == errc::server_error);
  CHECK(e.error().server_text == "Request Timeout");

  direct_get_reply no_sequence{std::nullopt, std::nullopt, subject, std::nullopt, std::nullopt, std::nullopt, "x"};
  CHECK(interpret_direct_get(no_sequence, "k", "$KV.b.").error().code == errc::protocol_error);
  direct_get_reply other_key{std::nullopt, std::nullopt, "$KV.b.other", "3", std::nullopt, std::nullopt, "x"};
  CHECK(interpret_direct_get(other_key, "k", "$KV.b.").error().code == errc::protocol_error);
  direct_get_reply bad_sequence{std::nullopt, std::nullopt, subject, "3x", std::nullopt, std::nullopt, "x"};
  CHECK(interpret_direct_get(bad_sequence, "k", "$KV.b.").error().code == errc::protocol_error);
  direct_get_reply bad_time{std::nullopt, std::nullopt, subject, "3", "yesterday", std::nullopt, "x"};
  CHECK(interpret_direct_get(bad_time, "k", "$KV.b.").error().code == errc::protocol_error);
}

TEST_CASE("message get: the fallback without direct get", "[kv]") {
  const std::string subject = "$KV.b.k";
  // data "{}" and headers "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n" in base64.
  auto found = interpret_message_get(
      R"({"message":{"subject":"$KV.b.k","seq":5,"data":"e30=","time":"2024-05-01T10:20:30Z"}})", "k", "$KV.b.");
  REQUIRE(found.has_value());
  REQUIRE(found->has_value());
  CHECK((*found)->revision == 5);
  CHECK((*found)->value == "{}");
  CHECK((*found)->operation == entry_operation::put);

  auto deleted = interpret_message_get(
      R"({"message":{"subject":"$KV.b.k","seq":6,"hdrs":"TkFUUy8xLjANCktWLU9wZXJhdGlvbjogREVMDQoNCg=="}})", "k",
      "$KV.b.");
  REQUIRE(deleted.has_value());
  CHECK((*deleted)->operation == entry_operation::del);
  CHECK((*deleted)->value.empty());

  auto missing = interpret_message_get(R"({"error":{"code":404,"err_code":10037,"description":"no message found"}})",
                                       "k", "$KV.b.");
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());

  auto no_stream = interpret_message_get(R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})",
                                         "k", "$KV.b.");
  REQUIRE_FALSE(no_stream.has_value());
  CHECK(no_stream.error().code == errc::configuration_error);

  CHECK(interpret_message_get(R"({"message":{"subject":"$KV.b.x","seq":5}})", "k", "$KV.b.").error().code ==
        errc::protocol_error);
  CHECK(
      interpret_message_get(R"({"message":{"subject":"$KV.b.k","seq":5,"data":"@@@@"}})", "k", "$KV.b.").error().code ==
      errc::protocol_error);
  CHECK(interpret_message_get("nonsense", "k", "$KV.b.").error().code == errc::protocol_error);
}

TEST_CASE("header blocks and base64", "[kv]") {
  const std::string block = "NATS/1.0\r\nNats-Sequence: 12\r\nkv-operation:  PURGE \r\n\r\n";
  CHECK(header_in_block(block, "KV-Operation") == std::string_view("PURGE"));
  CHECK(header_in_block(block, "Nats-Sequence") == std::string_view("12"));
  CHECK_FALSE(header_in_block(block, "Status").has_value());
  CHECK_FALSE(header_in_block("", "Status").has_value());

  CHECK(decode_base64("") == std::string());
  CHECK(decode_base64("Zg==") == std::string("f"));
  CHECK(decode_base64("Zm8=") == std::string("fo"));
  CHECK(decode_base64("Zm9v") == std::string("foo"));
  CHECK_FALSE(decode_base64("Zm9").has_value());
  CHECK_FALSE(decode_base64("Z===").has_value());
  CHECK_FALSE(decode_base64("Zg==Zm9v").has_value());
  CHECK_FALSE(decode_base64("Zm9v!A==").has_value());
}

TEST_CASE("operation header values", "[kv]") {
  CHECK(operation_from_header(std::nullopt) == entry_operation::put);
  CHECK(operation_from_header("DEL") == entry_operation::del);
  CHECK(operation_from_header("PURGE") == entry_operation::purge);
  CHECK(operation_from_header("something") == entry_operation::put);
}
