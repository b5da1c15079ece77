// A point in time as Go's time.Time writes it in JSON: RFC 3339 with its UTC offset, nanoseconds.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore {

/// Seconds and nanoseconds since the Unix epoch, covering years 0000 to 9999 — wider than a
/// nanosecond std::chrono::system_clock::time_point, because Go's zero time is year 1 — and
/// the UTC offset it is written with: a time read as `2024-03-10T08:15:30.5+05:30` is written
/// back so. Comparison is by instant alone. A default-constructed timestamp is Go's zero time,
/// 0001-01-01T00:00:00Z; times made here (now(), from_unix(), …) are UTC.
class FLOWSTORE_DECL timestamp {
 public:
  /// Unix seconds of Go's zero time.
  static constexpr std::int64_t zero_unix_seconds = -62135596800;

  /// Go's zero time, 0001-01-01T00:00:00Z.
  constexpr timestamp() noexcept = default;

  /// The current time of the system clock.
  static timestamp now() noexcept;

  /// From Unix seconds and a nanosecond part.
  ///
  /// A nanosecond part below zero or above 999'999'999 carries over into the seconds; the sum
  /// must stay within the range of int64 seconds.
  static constexpr timestamp from_unix(std::int64_t seconds, std::int64_t nanoseconds = 0) noexcept {
    timestamp t;
    t.seconds_ = seconds + nanoseconds / 1'000'000'000;
    std::int64_t rest = nanoseconds % 1'000'000'000;
    if (rest < 0) {
      rest += 1'000'000'000;
      --t.seconds_;
    }
    t.nanos_ = static_cast<std::uint32_t>(rest);
    return t;
  }

  /// From a system_clock time point (always representable).
  static timestamp from_time_point(std::chrono::system_clock::time_point tp) noexcept;

  /// The time as a system_clock time point, or nullopt when it lies outside its range
  /// (a nanosecond clock covers about 1677 to 2262).
  std::optional<std::chrono::system_clock::time_point> to_time_point() const noexcept;

  /// Parses the strict RFC 3339 that Go's time.Time writes in JSON: `YYYY-MM-DDTHH:MM:SS`, an
  /// optional fraction of 1 to 9 digits, then `Z` or `±HH:MM`, which the timestamp keeps.
  /// Errors with errc::invalid_argument.
  static result<timestamp> parse(std::string_view text);

  /// RFC 3339 with the fraction trimmed of trailing zeros, as Go's RFC3339Nano, in the offset
  /// the time carries: `2024-02-29T12:00:00.5Z`, `2024-03-10T08:15:30.5+05:30`. Text parse()
  /// read comes back as it was, but for the fraction's trailing zeros. Years outside 0000–9999
  /// are written with more digits or a sign.
  std::string to_string() const;

  /// True when the year, in the time's own offset, lies in 0000–9999: the range Go can write in
  /// JSON.
  bool json_representable() const noexcept;

  /// The UTC offset the time is written with; nullopt for UTC written as `Z` (times made here,
  /// and text that said `Z`). `+00:00` is an offset of zero minutes.
  std::optional<std::chrono::minutes> utc_offset() const noexcept;
  /// The same instant written with `offset` (whole minutes, less than a day either way), or
  /// errc::invalid_argument.
  result<timestamp> with_utc_offset(std::chrono::minutes offset) const;
  /// The same instant written in UTC, as `Z`.
  constexpr timestamp in_utc() const noexcept {
    timestamp t = *this;
    t.offset_minutes_ = utc;
    return t;
  }

  /// Whole seconds since the Unix epoch (negative before 1970).
  constexpr std::int64_t unix_seconds() const noexcept { return seconds_; }
  /// The nanoseconds within the second, 0 to 999'999'999.
  constexpr std::uint32_t nanoseconds() const noexcept { return nanos_; }
  /// True for Go's zero time, the default: "not set" for the audit times.
  constexpr bool is_zero() const noexcept { return seconds_ == zero_unix_seconds && nanos_ == 0; }

  /// Equal when the instants are, whatever their offsets.
  friend constexpr bool operator==(const timestamp& a, const timestamp& b) noexcept {
    return a.seconds_ == b.seconds_ && a.nanos_ == b.nanos_;
  }
  /// Chronological order of the instants (times equal in instant but written with different
  /// offsets are equivalent).
  friend constexpr std::weak_ordering operator<=>(const timestamp& a, const timestamp& b) noexcept {
    if (a.seconds_ != b.seconds_)
      return a.seconds_ < b.seconds_ ? std::weak_ordering::less : std::weak_ordering::greater;
    if (a.nanos_ != b.nanos_) return a.nanos_ < b.nanos_ ? std::weak_ordering::less : std::weak_ordering::greater;
    return std::weak_ordering::equivalent;
  }

 private:
  static constexpr std::int16_t utc = -32768;  // written as `Z`

  std::int64_t seconds_ = zero_unix_seconds;
  std::uint32_t nanos_ = 0;
  std::int16_t offset_minutes_ = utc;  // east of UTC, or utc
};

}  // namespace flowstore
