#include <flowstore/json.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

using namespace flowstore;

namespace {

// A document exactly as Go's encoding/json writes the Go package's Flow after Create.
const std::string go_created =
    R"({"id":"my-flow","name":"My First Flow","version":1,"nodes":[{"id":"node-1","component":"udp","type":"input",)"
    R"("name":"udp-input-1","position":{"x":100,"y":100},"config":{"port":5000}}],"connections":[],)"
    R"("runtime_state":"not_deployed","created_at":"2024-05-01T10:20:30.123456789Z",)"
    R"("updated_at":"2024-05-01T10:20:30.123456789Z","last_modified":"2024-05-01T10:20:30.123456789Z"})";

// Every optional field present, a connection, floats, escapes, nested config with sorted keys.
const std::string go_full =
    R"({"id":"team.etl-2","name":"ETL \u003cprod\u003e \u0026 more","description":"line1\nline2\t\"q\"",)"
    R"("version":42,"nodes":[{"id":"a","component":"udp","type":"input","name":"in","position":{"x":0.5,"y":-12.25},)"
    R"("config":{"bind":"0.0.0.0","nested":{"list":[1,2.5,"x",null,true],"z":{}},"port":5000}},)"
    R"({"id":"b","component":"graph-processor","type":"processor","name":"proc","position":{"x":350,"y":50},)"
    R"("config":{}}],"connections":[{"id":"c1","source_node_id":"a","source_port":"out","target_node_id":"b",)"
    R"("target_port":"in"}],"runtime_state":"running","deployed_at":"2024-02-29T23:59:59.5Z",)"
    R"("started_at":"2024-03-01T00:00:00Z","stopped_at":"0001-01-01T00:00:00Z",)"
    R"("created_at":"2024-01-01T00:00:00.000000001Z","updated_at":"2024-03-01T00:00:00.12Z",)"
    R"("created_by":"alice@example.com","last_modified":"2024-03-01T00:00:00.12Z"})";

flow decode(const std::string& text) {
  auto decoded = flow_from_json(text);
  INFO(text);
  REQUIRE(decoded.has_value());
  return std::move(decoded).value();
}

std::string encode(const flow& f) {
  auto encoded = to_json(f);
  REQUIRE(encoded.has_value());
  return std::move(encoded).value();
}

void require_corrupt(const std::string& text, const std::string& message_part) {
  auto decoded = flow_from_json(text);
  INFO(text);
  REQUIRE_FALSE(decoded.has_value());
  CHECK(decoded.error().code == errc::corrupt_data);
  CHECK(decoded.error().code == condition::fatal);
  CHECK_THAT(decoded.error().message, Catch::Contains(message_part));
}

std::string nested_config(int depth) {
  std::string open;
  std::string close;
  for (int i = 0; i < depth; ++i) {
    open += R"({"k":)";
    close += "}";
  }
  return R"({"id":"f","nodes":[{"id":"n","config":)" + open + "1" + close + "}]}";
}

}  // namespace

TEST_CASE("Go's output for a created flow decodes and re-encodes byte for byte", "[json]") {
  const flow f = decode(go_created);
  CHECK(f.id == "my-flow");
  CHECK(f.version == 1);
  REQUIRE(f.nodes.size() == 1);
  CHECK(f.nodes[0].type == component_type::input);
  CHECK(f.nodes[0].pos == position{100, 100});
  CHECK(f.nodes[0].config.at("port").as_int64() == 5000);
  CHECK(f.state == runtime_state::not_deployed);
  CHECK(f.created_at.to_string() == "2024-05-01T10:20:30.123456789Z");
  CHECK_FALSE(f.deployed_at.has_value());
  CHECK(encode(f) == go_created);
}

TEST_CASE("every optional field, escapes and nested config round trip byte for byte", "[json]") {
  const flow f = decode(go_full);
  CHECK(f.name == "ETL <prod> & more");
  CHECK(f.description == "line1\nline2\t\"q\"");
  CHECK(f.nodes[0].pos == position{0.5, -12.25});
  REQUIRE(f.deployed_at.has_value());
  CHECK(f.stopped_at->is_zero());
  CHECK(f.created_by == "alice@example.com");
  REQUIRE(f.connections.size() == 1);
  CHECK(f.connections[0].target_node_id == "b");
  CHECK(encode(f) == go_full);
  CHECK(validate(f).has_value());
}

TEST_CASE("null slices, null config and null fields decode to zero values", "[json]") {
  const flow f =
      decode(R"({"id":"f","name":null,"version":null,"nodes":[{"id":"n","config":null,"position":null},null],)"
             R"("connections":null,"runtime_state":null,"deployed_at":null,"created_at":null})");
  CHECK(f.name.empty());
  CHECK(f.version == 0);
  REQUIRE(f.nodes.size() == 2);
  CHECK(f.nodes[0].config.empty());
  CHECK(f.nodes[1] == flow_node{});
  CHECK(f.connections.empty());
  CHECK(f.state == runtime_state::unset);
  CHECK_FALSE(f.deployed_at.has_value());
  CHECK(f.created_at.is_zero());
  // On output slices are always arrays and config always an object.
  const std::string out = encode(f);
  CHECK_THAT(out, Catch::Contains(R"("connections":[])"));
  CHECK_THAT(out, Catch::Contains(R"("config":{})"));
  CHECK_THAT(out, Catch::Contains(R"("created_at":"0001-01-01T00:00:00Z")"));
}

TEST_CASE("missing optional fields are omitted on output, present ones in Go's order", "[json]") {
  flow f;
  f.id = "f";
  f.name = "n";
  f.state = runtime_state::running;
  CHECK(
      encode(f) ==
      R"({"id":"f","name":"n","version":0,"nodes":[],"connections":[],"runtime_state":"running",)"
      R"("created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","last_modified":"0001-01-01T00:00:00Z"})");
  f.description = "d";
  f.created_by = "me";
  f.started_at = timestamp::from_unix(0);
  CHECK(
      encode(f) ==
      R"({"id":"f","name":"n","description":"d","version":0,"nodes":[],"connections":[],"runtime_state":"running",)"
      R"("started_at":"1970-01-01T00:00:00Z","created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z",)"
      R"("created_by":"me","last_modified":"0001-01-01T00:00:00Z"})");
}

TEST_CASE("times with offsets are read and written back with their offsets", "[json]") {
  const flow f =
      decode(R"({"id":"f","created_at":"2024-05-01T01:20:30.5+02:00","updated_at":"2023-12-31T23:30:00-14:00"})");
  CHECK(f.created_at.to_string() == "2024-05-01T01:20:30.5+02:00");
  CHECK(f.created_at.in_utc().to_string() == "2024-04-30T23:20:30.5Z");
  CHECK(f.updated_at.to_string() == "2023-12-31T23:30:00-14:00");
  const std::string encoded = encode(f);
  CHECK_THAT(encoded, Catch::Contains(R"("created_at":"2024-05-01T01:20:30.5+02:00")"));
  CHECK_THAT(encoded, Catch::Contains(R"("updated_at":"2023-12-31T23:30:00-14:00")"));
}

TEST_CASE("integers in config keep their exact value", "[json]") {
  const flow f = decode(R"({"id":"f","nodes":[{"id":"n","config":{"a":9007199254740993,"b":18446744073709551615,)"
                        R"("c":-9223372036854775808,"d":1.5,"e":1e300}}]})");
  const auto& config = f.nodes[0].config;
  CHECK(config.at("a").as_int64() == 9007199254740993);
  CHECK(config.at("b").as_uint64() == 18446744073709551615u);
  CHECK(config.at("c").as_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK_THAT(
      encode(f),
      Catch::Contains(
          R"("config":{"a":9007199254740993,"b":18446744073709551615,"c":-9223372036854775808,"d":1.5,"e":1e+300})"));
}

TEST_CASE("unknown fields and unknown enum strings survive a round trip", "[json]") {
  const std::string doc =
      R"({"id":"f","name":"n","version":3,"nodes":[{"id":"n","component":"c","type":"sink","name":"x",)"
      R"("position":{"x":1,"y":2},"config":{},"ui_hint":{"color":"red"}}],"connections":[{"id":"c","source_node_id":"n",)"
      R"("source_port":"o","target_node_id":"n","target_port":"i","label":"l"}],"runtime_state":"paused",)"
      R"("created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","last_modified":"0001-01-01T00:00:00Z",)"
      R"("owner":{"team":"data"},"tags":["a","b"]})";
  const flow f = decode(doc);
  CHECK(f.state == runtime_state::unrecognized);
  CHECK(f.unrecognized_state == "paused");
  CHECK(f.nodes[0].type == component_type::unrecognized);
  CHECK(f.nodes[0].unrecognized_type == "sink");
  CHECK(f.unknown_fields.size() == 2);
  CHECK(f.nodes[0].unknown_fields.contains("ui_hint"));
  CHECK(f.connections[0].unknown_fields.at("label") == "l");
  CHECK(encode(f) == doc);

  auto valid = validate(f);
  REQUIRE_FALSE(valid.has_value());
  CHECK_THAT(valid.error().message, Catch::Contains("'paused'"));
  CHECK_THAT(valid.error().message, Catch::Contains("'sink'"));
}

TEST_CASE("field names match case-insensitively as in Go, exact names first", "[json]") {
  const flow f = decode(R"({"ID":"f","Name":"n","RUNTIME_STATE":"running","nodes":[{"Id":"x","Position":{"X":3}}]})");
  CHECK(f.id == "f");
  CHECK(f.name == "n");
  CHECK(f.state == runtime_state::running);
  CHECK(f.nodes[0].id == "x");
  CHECK(f.nodes[0].pos.x == 3);
  CHECK(f.unknown_fields.empty());
  // A later key for the same field wins, as in Go.
  CHECK(decode(R"({"id":"a","ID":"b"})").id == "b");
}

TEST_CASE("numbers are written in Go's float format", "[json]") {
  const auto written = [](double x) {
    flow f;
    f.nodes.push_back({});
    f.nodes[0].pos.x = x;
    const std::string out = encode(f);
    const auto start = out.find(R"("x":)") + 4;
    return out.substr(start, out.find(',', start) - start);
  };
  CHECK(written(100) == "100");
  CHECK(written(0.1) == "0.1");
  CHECK(written(-2.5) == "-2.5");
  CHECK(written(1e20) == "100000000000000000000");
  CHECK(written(1e21) == "1e+21");
  CHECK(written(0.000001) == "0.000001");
  CHECK(written(1.5e-7) == "1.5e-7");
  CHECK(written(1e-10) == "1e-10");
  CHECK(written(123456789.125) == "123456789.125");
  CHECK(written(-0.0) == "-0");
}

TEST_CASE("doubles from 2^53 up are written as Go writes them: shortest digits then zeros", "[json]") {
  flow f;
  f.nodes.push_back({});
  f.nodes[0].config = {{"a", 1.2345678901234568e20}, {"b", 0x1p60}, {"c", -0x1p53}, {"d", 9.999999999999999e20}};
  CHECK_THAT(encode(f), Catch::Contains(R"("config":{"a":123456789012345680000,"b":1152921504606847000,)"
                                        R"("c":-9007199254740992,"d":999999999999999900000})"));
}

TEST_CASE("numbers decode to the doubles Go reads and encode back unchanged", "[json]") {
  // Found by fuzzing: each of these encoded to text that decoded to another value.
  SECTION("negative zero stays negative zero, and is 0 as an integer") {
    const flow f = decode(R"({"version":-0,"nodes":[{"position":{"x":-0,"y":-0.0},"config":{"a":-0,"b":[-0.0]}}]})");
    CHECK(f.version == 0);
    CHECK(std::signbit(f.nodes[0].pos.x));
    CHECK(std::signbit(f.nodes[0].pos.y));
    CHECK(std::signbit(f.nodes[0].config.at("a").as_double()));
    const std::string out = encode(f);
    CHECK_THAT(out, Catch::Contains(R"("position":{"x":-0,"y":-0},"config":{"a":-0,"b":[-0]})"));
    CHECK(encode(decode(out)) == out);
  }
  SECTION("non-integers are rounded correctly, so Go's text reads back as itself") {
    const std::string go_text = R"({"id":"f","name":"","version":0,"nodes":[{"id":"n","component":"","type":"",)"
                                R"("name":"","position":{"x":-9.223372036823457e+30,"y":0.1},"config":{"a":)"
                                R"(123456789012345680000,"b":-9.223372036823457e+30}}],"connections":[],)"
                                R"("runtime_state":"","created_at":"0001-01-01T00:00:00Z",)"
                                R"("updated_at":"0001-01-01T00:00:00Z","last_modified":"0001-01-01T00:00:00Z"})";
    CHECK(encode(decode(go_text)) == go_text);
    const flow long_digits = decode(R"({"nodes":[{"config":{"a":-9223372036823456789012345678901}}]})");
    CHECK(long_digits.nodes[0].config.at("a").as_double() == -9.223372036823457e+30);
  }
  SECTION("numbers beyond the double range are corrupt, below it zero") {
    require_corrupt(R"({"nodes":[{"config":{"a":1e400}}]})", "a number is outside the range of a double");
    require_corrupt(R"({"nodes":[{"position":{"x":-1e309,"y":0}}]})", "outside the range of a double");
    const flow tiny = decode(R"({"nodes":[{"config":{"a":1e-400,"b":-1e-400,"c":5e-324}}]})");
    CHECK_THAT(encode(tiny), Catch::Contains(R"("config":{"a":0,"b":-0,"c":5e-324})"));
  }
}

TEST_CASE("strings are escaped as Go escapes them", "[json]") {
  flow f;
  f.id = std::string("a\x01\b\f\n\r\t\"\\<>&\xe2\x80\xa8\xe2\x80\xa9 \xc3\xa9") + std::string("\xff\xc0\x80");
  const std::string out = encode(f);
  CHECK_THAT(out, Catch::StartsWith(R"({"id":"a\u0001\b\f\n\r\t\"\\\u003c\u003e\u0026\u2028\u2029 )"
                                    "\xc3\xa9"
                                    R"(\ufffd\ufffd\ufffd",)"));
}

TEST_CASE("node and connection arrays are read whole, each document on its own", "[json]") {
  // Sized once: three nodes hold room for three.
  const flow three = decode(R"({"nodes":[{"id":"a"},{"id":"b"},{"id":"c"}],"connections":[{"id":"x"},{"id":"y"}]})");
  REQUIRE(three.nodes.size() == 3);
  CHECK(three.nodes.capacity() == 3);
  CHECK(three.nodes[2].id == "c");
  REQUIRE(three.connections.size() == 2);
  CHECK(three.connections.capacity() == 2);
  CHECK(three.connections[1].id == "y");

  // A later case variant of the field replaces the earlier array, as in Go.
  const flow replaced = decode(R"({"nodes":[{"id":"a"},{"id":"b"}],"Nodes":[{"id":"c"}]})");
  REQUIRE(replaced.nodes.size() == 1);
  CHECK(replaced.nodes[0].id == "c");

  // A document refused halfway through its arrays leaves nothing behind for the next one.
  require_corrupt(R"({"nodes":[{"id":"left"},{"position":1}]})", "nodes[1].position: expected an object");
  require_corrupt(R"({"connections":[{"id":"left"},{"id":2}]})", "connections[1].id: expected a string");
  const flow next = decode(R"({"nodes":[{"id":"n"}],"connections":[{"id":"c"}]})");
  REQUIRE(next.nodes.size() == 1);
  CHECK(next.nodes[0].id == "n");
  REQUIRE(next.connections.size() == 1);
  CHECK(next.connections[0].id == "c");

  // Large arrays, then a small one.
  std::string many = R"({"nodes":[)";
  for (int i = 0; i < 500; ++i) many += (i ? "," : "") + std::string(R"({"id":"n)") + std::to_string(i) + R"("})";
  const flow large = decode(many + "]}");
  REQUIRE(large.nodes.size() == 500);
  CHECK(large.nodes[499].id == "n499");
  CHECK(decode(R"({"nodes":[{"id":"z"}]})").nodes.size() == 1);
}

TEST_CASE("malformed documents are corrupt_data naming what is wrong", "[json]") {
  require_corrupt(R"({"id":"f","name":)", "invalid JSON");
  require_corrupt(R"([{"id":"f"}])", "expected an object, got an array");
  require_corrupt(R"("flow")", "expected an object");
  require_corrupt(R"({"id":1})", "id: expected a string, got a number");
  require_corrupt(R"({"version":"1"})", "version: expected an integer");
  require_corrupt(R"({"version":1.5})", "version: expected a 64-bit integer");
  require_corrupt(R"({"version":18446744073709551615})", "version: expected a 64-bit integer");
  require_corrupt(R"({"nodes":{}})", "nodes: expected an array");
  require_corrupt(R"({"nodes":[1]})", "nodes[0]: expected an object");
  require_corrupt(R"({"nodes":[{"position":"x"}]})", "nodes[0].position: expected an object");
  require_corrupt(R"({"nodes":[{"position":{"x":"1"}}]})", "nodes[0].position.x: expected a number");
  require_corrupt(R"({"nodes":[{"config":[1]}]})", "nodes[0].config: expected an object");
  require_corrupt(R"({"connections":[{"id":"c","target_port":7}]})", "connections[0].target_port: expected a string");
  require_corrupt(R"({"created_at":"yesterday"})", "created_at");
  require_corrupt(R"({"deployed_at":12})", "deployed_at: expected an RFC 3339 time string");
  require_corrupt("{\"id\":\"\xff\"}", "invalid JSON");
  require_corrupt(R"({"id":"f"} x)", "invalid JSON");
  require_corrupt("", "invalid JSON");
}

TEST_CASE("a duplicated key anywhere is corrupt_data even where Go keeps the last", "[json]") {
  require_corrupt(R"({"id":"f","id":"g"})", "duplicated object key");
  require_corrupt(R"({"id":"f","nodes":[{"id":"n","id":"m"}]})", "duplicated object key");
  require_corrupt(R"({"id":"f","nodes":[{"id":"n","config":{"a":{"b":1,"b":2}}}]})", "duplicated object key");
  // Keys equal only after unescaping are the same key.
  require_corrupt(R"({"id":"f","i\u0064":"g"})", "duplicated object key");
  // The same key in sibling objects is not a duplicate.
  CHECK(flow_from_json(R"({"id":"f","nodes":[{"id":"a","config":{"k":1}},{"id":"b","config":{"k":2}}]})").has_value());
}

TEST_CASE("duplicated keys are found among case variants and in dropped position fields", "[json]") {
  require_corrupt(R"({"ID":"f","ID":"g"})", "duplicated object key");
  require_corrupt(R"({"extra":1,"extra":2})", "duplicated object key");
  require_corrupt(R"({"nodes":[{"position":{"X":1,"X":2}}]})", "duplicated object key");
  require_corrupt(R"({"nodes":[{"position":{"z":{"a":1,"a":2}}}]})", "duplicated object key");
  require_corrupt(R"({"connections":[{"Id":"c","Id":"d"}]})", "duplicated object key");
}

TEST_CASE("strings and keys longer than the parser's buffer decode whole", "[json]") {
  // Escapes make the parser hand text over in parts once its buffer is full.
  std::string long_text;
  std::string long_escaped;
  for (int i = 0; i < 3000; ++i) {
    long_text += "\xc3\xa9\"";
    long_escaped += "\\u00e9\\\"";
  }
  const std::string doc = R"({"id":"f","name":")" + long_escaped + R"(","nodes":[{"id":")" + long_escaped +
                          R"(","config":{")" + long_escaped + R"(":")" + long_escaped + R"("}}],")" + long_escaped +
                          R"(":")" + long_escaped + R"(","Created_By":")" + long_escaped + R"("})";
  const flow f = decode(doc);
  CHECK(f.name == long_text);
  CHECK(f.created_by == long_text);
  REQUIRE(f.nodes.size() == 1);
  CHECK(f.nodes[0].id == long_text);
  CHECK(f.nodes[0].config.at(long_text).as_string() == long_text);
  CHECK(f.unknown_fields.at(long_text).as_string() == long_text);
  CHECK(decode(encode(f)) == f);
}

TEST_CASE("a document with several problems is refused for the first one", "[json]") {
  require_corrupt(R"({"id":1,"name":)", "id: expected a string, got a number");
  require_corrupt(R"({"nodes":[{"id":"a","id":"b"}],"version":"x"})", "duplicated object key");
  require_corrupt(R"({"version":"x","nodes":[{"id":"a","id":"b"}]})", "version: expected an integer");
}

TEST_CASE("nesting is bounded on decode and encode", "[json]") {
  // Root, nodes array and node object take three levels; config fills the rest.
  CHECK(flow_from_json(nested_config(static_cast<int>(max_json_depth) - 3)).has_value());
  require_corrupt(nested_config(static_cast<int>(max_json_depth) - 2), "invalid JSON");
  require_corrupt(nested_config(100000), "invalid JSON");

  flow f;
  f.nodes.push_back({});
  boost::json::object* level = &f.nodes[0].config;
  for (std::size_t i = 0; i < max_json_depth; ++i) level = &(*level)["k"].emplace_object();
  auto encoded = to_json(f);
  REQUIRE_FALSE(encoded.has_value());
  CHECK(encoded.error().code == errc::encode_failed);
  CHECK_THAT(encoded.error().message, Catch::Contains("node[0]"));
}

TEST_CASE("non-finite numbers and unwritable times fail to encode", "[json]") {
  flow f;
  f.nodes.push_back({});
  f.nodes[0].pos.y = std::numeric_limits<double>::quiet_NaN();
  auto encoded = to_json(f);
  REQUIRE_FALSE(encoded.has_value());
  CHECK(encoded.error().code == errc::encode_failed);
  CHECK(encoded.error().code == condition::fatal);

  f.nodes[0].pos.y = 0;
  f.nodes[0].config["bad"] = std::numeric_limits<double>::infinity();
  CHECK(to_json(f).error().code == errc::encode_failed);

  flow g;
  g.created_at = timestamp::from_unix(400'000'000'000);  // year 14645
  CHECK(to_json(g).error().code == errc::encode_failed);
}

TEST_CASE("a flow built in code decodes back to the same value", "[json]") {
  flow f;
  f.id = "team/x=1";
  f.name = "All \"the\" things \xe2\x9c\x93";
  f.description = "desc";
  f.version = 9;
  f.state = runtime_state::deployed_stopped;
  f.deployed_at = timestamp::from_unix(1'700'000'000, 123'000'000);
  f.created_at = timestamp::from_unix(1'600'000'000, 1);
  f.updated_at = timestamp::from_unix(1'700'000'001);
  f.last_modified = f.updated_at;
  f.created_by = "bob";
  for (int i = 0; i < 5; ++i) {
    flow_node n;
    n.id = "n" + std::to_string(i);
    n.component = "comp";
    n.type = component_type::storage;
    n.name = "name";
    n.pos = {i * 300.5, -i * 0.25};
    n.config = {{"i", i}, {"s", "v"}, {"list", boost::json::array{1, "two", nullptr}}, {"d", 0.1}};
    f.nodes.push_back(std::move(n));
  }
  f.connections.push_back({"c", "n0", "out", "n1", "in", {}});
  const flow back = decode(encode(f));
  CHECK(back == f);
  CHECK(encode(back) == encode(f));
}

TEST_CASE("Boost.JSON conversions use the same encoding and decoding", "[json]") {
  const flow f = decode(go_full);
  const boost::json::value v = boost::json::value_from(f);
  CHECK(v.at("id") == "team.etl-2");
  CHECK(boost::json::value_to<flow>(v) == f);
  CHECK(boost::json::try_value_to<flow>(v).value() == f);

  const boost::json::value bad = boost::json::parse(R"({"id":7})");
  CHECK_THROWS_AS(boost::json::value_to<flow>(bad), flowstore::exception);
  auto tried = boost::json::try_value_to<flow>(bad);
  REQUIRE(tried.has_error());
  CHECK(tried.error() == errc::corrupt_data);
}

TEST_CASE("Boost.JSON conversion of a flow with a deep config", "[json]") {
  // Found by fuzzing: value_from parsed the encoded text with Boost's default depth limit
  // (32) and threw for a config any deeper.
  flow f;
  f.nodes.push_back({});
  boost::json::object* level = &f.nodes[0].config;
  for (int i = 0; i < 100; ++i) level = &(*level)["k"].emplace_object();
  (*level)["zero"] = -0.0;
  boost::json::value v;
  REQUIRE_NOTHROW(v = boost::json::value_from(f));
  const flow back = boost::json::value_to<flow>(v);
  CHECK(encode(back) == encode(f));
}

TEST_CASE("to_go_json writes any value with sorted keys", "[json]") {
  const boost::json::value v = boost::json::parse(R"({"b":[1,{"d":1,"c":2}],"a":"<"})");
  CHECK(to_go_json(v).value() == R"({"a":"\u003c","b":[1,{"c":2,"d":1}]})");
}
