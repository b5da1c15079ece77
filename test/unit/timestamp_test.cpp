#include <flowstore/timestamp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

using flowstore::errc;
using flowstore::timestamp;

namespace {

timestamp parse_ok(std::string_view text) {
  INFO("input: " << std::string(text));
  auto r = timestamp::parse(text);
  REQUIRE(r.has_value());
  return r.value();
}

constexpr bool nanosecond_clock = std::is_same_v<std::chrono::system_clock::duration, std::chrono::nanoseconds>;

}  // namespace

TEST_CASE("Go's zero time round trips", "[timestamp]") {
  const timestamp def;
  CHECK(def.is_zero());
  CHECK(def.unix_seconds() == -62135596800);
  CHECK(def.nanoseconds() == 0);
  CHECK(def.to_string() == "0001-01-01T00:00:00Z");
  CHECK(def.json_representable());

  const timestamp t = parse_ok("0001-01-01T00:00:00Z");
  CHECK(t.is_zero());
  CHECK(t == def);
  CHECK(t.to_string() == "0001-01-01T00:00:00Z");

  CHECK_FALSE(timestamp::from_unix(0).is_zero());
  CHECK_FALSE(timestamp::from_unix(timestamp::zero_unix_seconds, 1).is_zero());
}

TEST_CASE("known Unix values", "[timestamp]") {
  CHECK(parse_ok("1970-01-01T00:00:00Z").unix_seconds() == 0);
  CHECK(parse_ok("2009-11-10T23:00:00Z").unix_seconds() == 1257894000);
  CHECK(parse_ok("2024-02-29T12:00:00Z").unix_seconds() == 1709208000);
  CHECK(parse_ok("1969-12-31T23:59:59Z").unix_seconds() == -1);
  CHECK(parse_ok("0000-01-01T00:00:00Z").unix_seconds() == -62167219200);

  CHECK(timestamp::from_unix(0).to_string() == "1970-01-01T00:00:00Z");
  CHECK(timestamp::from_unix(1257894000).to_string() == "2009-11-10T23:00:00Z");
  CHECK(timestamp::from_unix(-1, 999'999'999).to_string() == "1969-12-31T23:59:59.999999999Z");
}

TEST_CASE("leap days follow the Gregorian rules", "[timestamp]") {
  const timestamp t2024 = parse_ok("2024-02-29T00:00:00Z");
  CHECK(t2024.unix_seconds() == 1709164800);
  CHECK(t2024.to_string() == "2024-02-29T00:00:00Z");

  const timestamp t2000 = parse_ok("2000-02-29T00:00:00Z");
  CHECK(t2000.unix_seconds() == 951782400);
  CHECK(t2000.to_string() == "2000-02-29T00:00:00Z");

  CHECK(parse_ok("0000-02-29T00:00:00Z").to_string() == "0000-02-29T00:00:00Z");

  for (const char* bad : {"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-02-30T00:00:00Z",
                          "2024-04-31T00:00:00Z", "2100-02-29T00:00:00Z"}) {
    INFO(bad);
    const auto r = timestamp::parse(bad);
    REQUIRE(r.has_error());
    CHECK(r.error() == errc::invalid_argument);
    CHECK(r.error().message == "invalid RFC 3339 time '" + std::string(bad) + "': day out of range");
  }
}

TEST_CASE("the ends of the JSON range round trip", "[timestamp]") {
  const timestamp first = parse_ok("0001-01-01T00:00:00.000000001Z");
  CHECK(first.unix_seconds() == -62135596800);
  CHECK(first.nanoseconds() == 1);
  CHECK(first.to_string() == "0001-01-01T00:00:00.000000001Z");

  const timestamp last = parse_ok("9999-12-31T23:59:59.999999999Z");
  CHECK(last.unix_seconds() == 253402300799);
  CHECK(last.nanoseconds() == 999'999'999);
  CHECK(last.to_string() == "9999-12-31T23:59:59.999999999Z");
  CHECK(last.json_representable());

  const timestamp year0 = parse_ok("0000-01-01T00:00:00Z");
  CHECK(year0.to_string() == "0000-01-01T00:00:00Z");
  CHECK(year0.json_representable());
}

TEST_CASE("years outside 0000-9999 are written but not JSON representable", "[timestamp]") {
  const timestamp before = timestamp::from_unix(-62167219200 - 1);
  CHECK(before.to_string() == "-0001-12-31T23:59:59Z");
  CHECK_FALSE(before.json_representable());

  const timestamp after = timestamp::from_unix(253402300800);
  CHECK(after.to_string() == "10000-01-01T00:00:00Z");
  CHECK_FALSE(after.json_representable());

  const timestamp max = timestamp::from_unix(std::numeric_limits<std::int64_t>::max(), 999'999'999);
  CHECK(max.to_string() == "292277026596-12-04T15:30:07.999999999Z");
  CHECK_FALSE(max.json_representable());

  const timestamp min = timestamp::from_unix(std::numeric_limits<std::int64_t>::min());
  CHECK(min.to_string() == "-292277022657-01-27T08:29:52Z");
  CHECK_FALSE(min.json_representable());

  // An offset can carry a valid text across the edge of the range in UTC; the text, in its
  // own offset, stays in range and is written back as it was, as Go does.
  const timestamp carried = parse_ok("0000-01-01T00:00:00+01:00");
  CHECK(carried.unix_seconds() == -62167219200 - 3600);
  CHECK(carried.to_string() == "0000-01-01T00:00:00+01:00");
  CHECK(carried.json_representable());
  CHECK(carried.in_utc().to_string() == "-0001-12-31T23:00:00Z");
  CHECK_FALSE(carried.in_utc().json_representable());
  CHECK(parse_ok("9999-12-31T23:30:00-01:00").in_utc().to_string() == "10000-01-01T00:30:00Z");
}

TEST_CASE("offsets are kept: the instant in UTC, the text as it was written", "[timestamp]") {
  const timestamp east = parse_ok("2024-01-01T00:00:00+14:00");
  CHECK(east.unix_seconds() == 1704016800);
  CHECK(east.to_string() == "2024-01-01T00:00:00+14:00");
  CHECK(east.utc_offset() == std::chrono::minutes(14 * 60));
  CHECK(east.in_utc().to_string() == "2023-12-31T10:00:00Z");

  const timestamp west = parse_ok("2023-12-31T23:00:00-14:00");
  CHECK(west.unix_seconds() == 1704016800 + 27 * 3600);
  CHECK(west.to_string() == "2023-12-31T23:00:00-14:00");
  CHECK(west.in_utc().to_string() == "2024-01-01T13:00:00Z");

  const timestamp india = parse_ok("2024-03-10T08:15:30.5+05:30");
  CHECK(india.unix_seconds() == 1710038730);
  CHECK(india.nanoseconds() == 500'000'000);
  CHECK(india.to_string() == "2024-03-10T08:15:30.5+05:30");
  CHECK(india.in_utc().to_string() == "2024-03-10T02:45:30.5Z");
  // Compared by instant: the same moment in UTC is equal.
  CHECK(india == parse_ok("2024-03-10T02:45:30.5Z"));
  CHECK_FALSE(india < parse_ok("2024-03-10T02:45:30.5Z"));
  CHECK(india < parse_ok("2024-03-10T08:15:30.5+05:29"));

  // The fraction as Go writes it (trailing zeros trimmed); `Z`, `+00:00` and `-00:00` as read
  // (Go writes the last two as `Z`).
  CHECK(parse_ok("2024-03-01T00:10:00.250+00:15").to_string() == "2024-03-01T00:10:00.25+00:15");
  CHECK(parse_ok("2024-01-01T00:00:00Z").utc_offset() == std::nullopt);
  CHECK(parse_ok("2024-01-01T00:00:00+00:00").to_string() == "2024-01-01T00:00:00+00:00");
  CHECK(parse_ok("2024-01-01T00:00:00+00:00").utc_offset() == std::chrono::minutes(0));
  CHECK(parse_ok("2024-01-01T00:00:00-00:00").unix_seconds() == 1704067200);
  CHECK(parse_ok("2024-01-01T00:00:00-00:00").to_string() == "2024-01-01T00:00:00+00:00");

  // Times made here are UTC; an offset can be given.
  CHECK(timestamp::from_unix(1704067200).utc_offset() == std::nullopt);
  CHECK(timestamp::now().utc_offset() == std::nullopt);
  auto shown = timestamp::from_unix(1704067200).with_utc_offset(std::chrono::minutes(-90));
  REQUIRE(shown);
  CHECK(shown->to_string() == "2023-12-31T22:30:00-01:30");
  CHECK(*shown == timestamp::from_unix(1704067200));
  CHECK(timestamp::from_unix(0).with_utc_offset(std::chrono::minutes(24 * 60)).error().code ==
        flowstore::errc::invalid_argument);
  // An offset that would carry the extreme instants past int64 is dropped when writing.
  auto extreme =
      timestamp::from_unix(std::numeric_limits<std::int64_t>::max()).with_utc_offset(std::chrono::minutes(60));
  REQUIRE(extreme);
  CHECK(extreme->to_string().back() == 'Z');
  CHECK_FALSE(extreme->json_representable());
  CHECK(parse_ok("2024-01-01T00:00:00+23:59").unix_seconds() == 1704067200 - 86340);
  CHECK(parse_ok("2024-01-01T00:00:00-23:59").unix_seconds() == 1704067200 + 86340);
}

TEST_CASE("1 to 9 fraction digits", "[timestamp]") {
  struct row {
    const char* text;
    std::uint32_t nanos;
    const char* printed;
  };
  const row rows[] = {
      {"2024-01-01T00:00:00.1Z", 100'000'000, "2024-01-01T00:00:00.1Z"},
      {"2024-01-01T00:00:00.12Z", 120'000'000, "2024-01-01T00:00:00.12Z"},
      {"2024-01-01T00:00:00.123Z", 123'000'000, "2024-01-01T00:00:00.123Z"},
      {"2024-01-01T00:00:00.1234Z", 123'400'000, "2024-01-01T00:00:00.1234Z"},
      {"2024-01-01T00:00:00.12345Z", 123'450'000, "2024-01-01T00:00:00.12345Z"},
      {"2024-01-01T00:00:00.123456Z", 123'456'000, "2024-01-01T00:00:00.123456Z"},
      {"2024-01-01T00:00:00.1234567Z", 123'456'700, "2024-01-01T00:00:00.1234567Z"},
      {"2024-01-01T00:00:00.12345678Z", 123'456'780, "2024-01-01T00:00:00.12345678Z"},
      {"2024-01-01T00:00:00.123456789Z", 123'456'789, "2024-01-01T00:00:00.123456789Z"},
      {"2024-01-01T00:00:00.000000001Z", 1, "2024-01-01T00:00:00.000000001Z"},
      {"2024-01-01T00:00:00.500Z", 500'000'000, "2024-01-01T00:00:00.5Z"},
      {"2024-01-01T00:00:00.010200Z", 10'200'000, "2024-01-01T00:00:00.0102Z"},
      {"2024-01-01T00:00:00.000000000Z", 0, "2024-01-01T00:00:00Z"},
      {"2024-01-01T00:00:00.0Z", 0, "2024-01-01T00:00:00Z"},
      {"2024-01-01T05:00:00.750+05:00", 750'000'000, "2024-01-01T05:00:00.75+05:00"},
  };
  for (const row& r : rows) {
    INFO(r.text);
    const timestamp t = parse_ok(r.text);
    CHECK(t.unix_seconds() == 1704067200);
    CHECK(t.nanoseconds() == r.nanos);
    CHECK(t.to_string() == r.printed);
  }
}

TEST_CASE("from_unix normalises the nanoseconds", "[timestamp]") {
  const timestamp a = timestamp::from_unix(0, -1);
  CHECK(a.unix_seconds() == -1);
  CHECK(a.nanoseconds() == 999'999'999);

  const timestamp b = timestamp::from_unix(5, -1'500'000'000);
  CHECK(b.unix_seconds() == 3);
  CHECK(b.nanoseconds() == 500'000'000);

  const timestamp c = timestamp::from_unix(10, 2'500'000'000);
  CHECK(c.unix_seconds() == 12);
  CHECK(c.nanoseconds() == 500'000'000);

  const timestamp d = timestamp::from_unix(7, -1'000'000'000);
  CHECK(d.unix_seconds() == 6);
  CHECK(d.nanoseconds() == 0);

  const timestamp e = timestamp::from_unix(-3, 999'999'999);
  CHECK(e.unix_seconds() == -3);
  CHECK(e.nanoseconds() == 999'999'999);
}

TEST_CASE("ordering compares seconds, then nanoseconds", "[timestamp]") {
  const timestamp a = timestamp::from_unix(100, 5);
  const timestamp b = timestamp::from_unix(100, 6);
  const timestamp c = timestamp::from_unix(101, 0);
  const timestamp neg = timestamp::from_unix(-1, 999'999'999);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(a < c);
  CHECK(neg < timestamp::from_unix(0));
  CHECK(timestamp{} < neg);
  CHECK(c > a);
  CHECK(a <= a);
  CHECK(a >= a);
  CHECK(a == timestamp::from_unix(100, 5));
  CHECK(a != b);
  CHECK((a <=> b) == std::strong_ordering::less);
  CHECK((c <=> b) == std::strong_ordering::greater);
  CHECK(parse_ok("2024-01-01T01:00:00+01:00") == parse_ok("2024-01-01T00:00:00Z"));
}

TEST_CASE("from_time_point and to_time_point", "[timestamp]") {
  using namespace std::chrono;
  using tp_t = system_clock::time_point;
  using dur = system_clock::duration;

  const tp_t tp = sys_days{year{2024} / 2 / 29} + hours{12} + duration_cast<dur>(nanoseconds{123'456'789});
  const timestamp t = timestamp::from_time_point(tp);
  CHECK(t.unix_seconds() == 1709208000);
  CHECK(t.to_time_point() == tp);
  if constexpr (nanosecond_clock) {
    CHECK(t.nanoseconds() == 123'456'789);
    CHECK(t.to_string() == "2024-02-29T12:00:00.123456789Z");
  }

  const tp_t before_epoch = sys_days{year{1969} / 12 / 31} + hours{23} + minutes{59} + seconds{59} + milliseconds{500};
  const timestamp b = timestamp::from_time_point(before_epoch);
  CHECK(b.unix_seconds() == -1);
  CHECK(b.nanoseconds() == 500'000'000);
  CHECK(b.to_string() == "1969-12-31T23:59:59.5Z");
  CHECK(b.to_time_point() == before_epoch);

  CHECK(timestamp::from_time_point(tp_t{}).unix_seconds() == 0);
  CHECK(timestamp::from_unix(0).to_time_point() == tp_t{});

  // Year 1 and year 9999 are outside a nanosecond time_point.
  if constexpr (nanosecond_clock) {
    CHECK_FALSE(timestamp{}.to_time_point().has_value());
    CHECK_FALSE(parse_ok("9999-12-31T23:59:59.999999999Z").to_time_point().has_value());
  }

  // The extremes of the clock round trip; one tick beyond them does not.
  const timestamp hi = timestamp::from_time_point(tp_t::max());
  const timestamp lo = timestamp::from_time_point(tp_t::min());
  CHECK(hi.to_time_point() == tp_t::max());
  CHECK(lo.to_time_point() == tp_t::min());
  const auto tick = duration_cast<nanoseconds>(dur{1}).count();
  CHECK_FALSE(timestamp::from_unix(hi.unix_seconds(), hi.nanoseconds() + tick).to_time_point().has_value());
  CHECK_FALSE(timestamp::from_unix(lo.unix_seconds(), lo.nanoseconds() - tick).to_time_point().has_value());
  CHECK_FALSE(timestamp::from_unix(hi.unix_seconds() + 1).to_time_point().has_value());
  CHECK_FALSE(timestamp::from_unix(lo.unix_seconds() - 1).to_time_point().has_value());
  CHECK_FALSE(timestamp::from_unix(std::numeric_limits<std::int64_t>::max(), 999'999'999).to_time_point().has_value());
  CHECK_FALSE(timestamp::from_unix(std::numeric_limits<std::int64_t>::min()).to_time_point().has_value());
  if constexpr (nanosecond_clock) {
    CHECK(hi.unix_seconds() == 9223372036);
    CHECK(hi.nanoseconds() == 854'775'807);
    CHECK(hi.to_string() == "2262-04-11T23:47:16.854775807Z");
    CHECK(lo.unix_seconds() == -9223372037);
    CHECK(lo.nanoseconds() == 145'224'192);
    CHECK(lo.to_string() == "1677-09-21T00:12:43.145224192Z");
    // Same whole second as min(), but a fraction at or above min()'s.
    const auto near_lo = timestamp::from_unix(-9223372037, 145'224'193).to_time_point();
    REQUIRE(near_lo.has_value());
    CHECK(near_lo->time_since_epoch().count() == std::numeric_limits<std::int64_t>::min() + 1);
  }
}

TEST_CASE("now() lies between two clock readings", "[timestamp]") {
  const auto before = timestamp::from_time_point(std::chrono::system_clock::now());
  const timestamp t = timestamp::now();
  const auto after = timestamp::from_time_point(std::chrono::system_clock::now());
  CHECK(before <= t);
  CHECK(t <= after);
  CHECK(t.json_representable());
}

TEST_CASE("invalid RFC 3339 texts are rejected", "[timestamp]") {
  using namespace std::string_view_literals;
  const std::string_view bad[] = {
      ""sv,
      "2024-13-01T00:00:00Z"sv,
      "2024-00-01T00:00:00Z"sv,
      "2024-01-32T00:00:00Z"sv,
      "2024-01-00T00:00:00Z"sv,
      "2024-01-01 00:00:00Z"sv,
      "2024-01-01t00:00:00z"sv,
      "2024-01-01T00:00:00z"sv,
      "2024-01-01T24:00:00Z"sv,
      "2024-01-01T00:60:00Z"sv,
      "2024-01-01T00:00:60Z"sv,
      "2024-01-01T00:00:00"sv,
      "2024-01-01T00:00:00."sv,
      "2024-01-01T00:00:00.Z"sv,
      "2024-01-01T00:00:00.1234567890Z"sv,
      "2024-01-01T00:00:00,5Z"sv,
      "2024-01-01T00:00:00+24:00"sv,
      "2024-01-01T00:00:00+01:60"sv,
      "2024-01-01T00:00:00+0100"sv,
      "2024-01-01T00:00:00+01"sv,
      "2024-01-01T00:00:00+01:00:00"sv,
      "2024-01-01T00:00:00 +01:00"sv,
      "2024-01-01T00:00:00Z "sv,
      " 2024-01-01T00:00:00Z"sv,
      "2024-01-01T00:00:00ZZ"sv,
      "+2024-01-01T00:00:00Z"sv,
      "-2024-01-01T00:00:00Z"sv,
      "12024-01-01T00:00:00Z"sv,
      "2024-1-01T00:00:00Z"sv,
      "2024-01-01T0:00:00Z"sv,
      "2024/01/01T00:00:00Z"sv,
      "2024-01-01T00-00-00Z"sv,
      "2024-01-01T00:00:00Z\0"sv,
      "2024-01-01T00:0\0:00Z"sv,
      "2024-01-01T00:00:0\xd9\xa1Z"sv,        // ARABIC-INDIC DIGIT ONE
      "2024-01-01T00:00:00.\xef\xbc\x91Z"sv,  // FULLWIDTH DIGIT ONE
      "2024-01-01T00:00:00\xef\xbc\xba"sv,    // FULLWIDTH Z
      "2024-01-01"sv,
      "Z"sv,
  };
  for (const std::string_view text : bad) {
    INFO("input of " << text.size() << " bytes: " << std::string(text));
    const auto r = timestamp::parse(text);
    REQUIRE(r.has_error());
    CHECK(r.error() == errc::invalid_argument);
    CHECK(r.error().message.rfind("invalid RFC 3339 time '", 0) == 0);
  }
}

TEST_CASE("parse errors name the reason and echo the text safely", "[timestamp]") {
  const auto check = [](std::string_view text, const std::string& message) {
    const auto r = timestamp::parse(text);
    REQUIRE(r.has_error());
    CHECK(r.error() == errc::invalid_argument);
    CHECK(r.error().message == message);
  };
  check("", "invalid RFC 3339 time '': too short");
  check("2024-13-01T00:00:00Z", "invalid RFC 3339 time '2024-13-01T00:00:00Z': month out of range");
  check("2024-01-01t00:00:00Z", "invalid RFC 3339 time '2024-01-01t00:00:00Z': expected 'T' between date and time");
  check("2024-01-01T00:00:60Z", "invalid RFC 3339 time '2024-01-01T00:00:60Z': second out of range");
  check("2024-01-01T00:00:00.Z", "invalid RFC 3339 time '2024-01-01T00:00:00.Z': no digits after '.'");
  check("2024-01-01T00:00:00.1234567890Z",
        "invalid RFC 3339 time '2024-01-01T00:00:00.1234567890Z': more than 9 fraction digits");
  check("2024-01-01T00:00:00+24:00", "invalid RFC 3339 time '2024-01-01T00:00:00+24:00': bad time zone offset");
  check("2024-01-01T00:00:00", "invalid RFC 3339 time '2024-01-01T00:00:00': too short");
  check("2024-01-01T00:00:00.5", "invalid RFC 3339 time '2024-01-01T00:00:00.5': missing time zone");
  check(std::string_view("2024-01-01T00:00:00Z\0", 21),
        "invalid RFC 3339 time '2024-01-01T00:00:00Z\\x00': "
        "bad time zone, expected 'Z' or '+HH:MM'");
  check("2024-01-01T00:00:0\xd9\xa1Z", "invalid RFC 3339 time '2024-01-01T00:00:0\\xd9\\xa1Z': bad second");

  // Long input is cut to 64 bytes in the message.
  const std::string long_text = "2024-01-01T00:00:00Z" + std::string(100, 'x');
  check(long_text,
        "invalid RFC 3339 time '" + long_text.substr(0, 64) + "...': bad time zone, expected 'Z' or '+HH:MM'");
}
