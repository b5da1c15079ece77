// Fuzz target: flow documents. Any input either fails to decode with errc::corrupt_data, or
// decodes to a flow whose encoding is stable: decode(encode(f)) succeeds and encodes to the
// same bytes, through the text API and through Boost.JSON's value_from/value_to. Validation
// of the decoded flow gives the same problems after the round trip. Decoding the text and
// decoding its parsed value agree. Nothing may throw.
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include "fuzz_check.hpp"
#include "model/strict_json.hpp"

#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace flowstore;

// to_json() refuses times Go cannot write (years outside 0000-9999 in the time's own offset).
// A decoded time keeps the offset it was written with, so it is always writable; the check
// stays for the day the decoder accepts wider years.
bool has_unwritable_time(const flow& f) {
  for (const auto* t : {&f.deployed_at, &f.started_at, &f.stopped_at}) {
    if (t->has_value() && !(*t)->json_representable()) return true;
  }
  for (const auto* t : {&f.created_at, &f.updated_at, &f.last_modified}) {
    if (!t->json_representable()) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto decoded = flow_from_json(text);

  // The text is decoded in one pass over parser events, a value by replaying it: both must
  // reach the same flow or the same error.
  std::string problem;
  if (auto parsed = detail::parse_strict_json(text, max_json_depth, problem)) {
    auto from_value = flow_from_json(*parsed);
    FUZZ_CHECK(from_value.has_value() == decoded.has_value(), decoded ? "" : decoded.error().message);
    if (decoded) {
      FUZZ_CHECK(*from_value == *decoded, "");
    } else {
      FUZZ_CHECK(from_value.error().message == decoded.error().message, from_value.error().message);
    }
  } else {
    FUZZ_CHECK(!decoded.has_value(), problem);
  }

  if (!decoded) {
    FUZZ_CHECK(decoded.error().code == errc::corrupt_data, decoded.error().message);
    FUZZ_CHECK(!decoded.error().message.empty(), "");
    return 0;
  }
  const flow& first = *decoded;
  FUZZ_CHECK(first.revision == 0, "");

  const auto problems = validation_problems(first);
  const auto validated = validate(first);
  FUZZ_CHECK(validated.has_value() == problems.empty(), "");
  if (!validated) FUZZ_CHECK(validated.error().code == errc::validation_failed, validated.error().message);

  auto encoded = to_json(first);
  if (!encoded) {
    FUZZ_CHECK(encoded.error().code == errc::encode_failed, encoded.error().message);
    FUZZ_CHECK(has_unwritable_time(first), encoded.error().message);
    return 0;
  }

  auto second = flow_from_json(*encoded);
  FUZZ_CHECK(second.has_value(), second ? std::string_view(*encoded) : std::string_view(second.error().message));
  auto reencoded = to_json(*second);
  FUZZ_CHECK(reencoded.has_value(), reencoded ? "" : reencoded.error().message);
  FUZZ_CHECK(*reencoded == *encoded, *reencoded);
  FUZZ_CHECK(validation_problems(*second) == problems, *encoded);

  for (const auto& node : second->nodes) {
    auto config = to_go_json(boost::json::value(node.config));
    FUZZ_CHECK(config.has_value(), config ? "" : config.error().message);
  }

  // The Boost.JSON conversions share the encoder: a flow that encodes converts both ways.
  const boost::json::value as_value = boost::json::value_from(*second);
  const flow from_value = boost::json::value_to<flow>(as_value);
  auto encoded_from_value = to_json(from_value);
  FUZZ_CHECK(encoded_from_value.has_value(), encoded_from_value ? "" : encoded_from_value.error().message);
  FUZZ_CHECK(*encoded_from_value == *encoded, *encoded_from_value);
  return 0;
}
