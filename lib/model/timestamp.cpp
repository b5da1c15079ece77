// RFC 3339 timestamps as Go's time.Time reads and writes them in JSON.
#include <flowstore/timestamp.hpp>

#include <charconv>
#include <cstddef>

namespace flowstore {

namespace {

using std::int64_t;

constexpr int64_t seconds_per_day = 86400;
// The Gregorian calendar repeats exactly every 400 years; that lets the std::chrono calendar
// (years -32767..32767 only) convert any int64 day count.
constexpr int64_t days_per_400_years = 146097;

constexpr int64_t floor_div(int64_t a, int64_t b) noexcept {  // b > 0
  int64_t q = a / b;
  if (a % b < 0) --q;
  return q;
}

constexpr int64_t days_from_civil(int y, unsigned m, unsigned d) noexcept {
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  return static_cast<int64_t>(std::chrono::sys_days{ymd}.time_since_epoch().count());
}

// Unix seconds bounding years 0000..9999, the years Go writes in JSON.
constexpr int64_t min_json_seconds = days_from_civil(0, 1, 1) * seconds_per_day;
constexpr int64_t end_json_seconds = days_from_civil(10000, 1, 1) * seconds_per_day;
static_assert(days_from_civil(1, 1, 1) * seconds_per_day == timestamp::zero_unix_seconds);

struct civil_date {
  int64_t year;
  unsigned month;
  unsigned day;
};

civil_date civil_from_days(int64_t days) noexcept {
  const int64_t era = floor_div(days, days_per_400_years);
  const int64_t rest = days - era * days_per_400_years;  // 0..146096: 1970-01-01..2369-12-31
  const std::chrono::year_month_day ymd{
      std::chrono::sys_days{std::chrono::days{static_cast<std::chrono::days::rep>(rest)}}};
  return {static_cast<int>(ymd.year()) + era * 400, static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day())};
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Parses text[pos, pos + n) as decimal digits; false if any is not an ASCII digit.
inline bool parse_digits(std::string_view text, std::size_t pos, std::size_t n, int& out) noexcept {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    const char c = text[i];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

inline char* write2(char* p, unsigned v) noexcept {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

// Go writes years with at least four digits and a '-' for negative years.
char* write_year(char* p, char* end, int64_t year) noexcept {
  if (year < 0) *p++ = '-';
  // |year| < 3e11 for any int64 seconds, so negating cannot overflow.
  const auto magnitude = static_cast<std::uint64_t>(year < 0 ? -year : year);
  if (magnitude < 10000) {
    auto v = static_cast<unsigned>(magnitude);
    p = write2(p, v / 100);
    return write2(p, v % 100);
  }
  return std::to_chars(p, end, magnitude).ptr;
}

error parse_error(std::string_view text, const char* reason) {
  constexpr std::size_t max_echo = 64;
  std::string msg = "invalid RFC 3339 time '";
  const std::string_view shown = text.substr(0, max_echo);
  // Escape control and non-ASCII bytes so the message stays printable in logs.
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      constexpr char hex[] = "0123456789abcdef";
      msg += "\\x";
      msg += hex[c >> 4];
      msg += hex[c & 0xf];
    } else {
      msg += ch;
    }
  }
  if (text.size() > max_echo) msg += "...";
  msg += "': ";
  msg += reason;
  return error{errc::invalid_argument, std::move(msg)};
}

}  // namespace

timestamp timestamp::now() noexcept { return from_time_point(std::chrono::system_clock::now()); }

timestamp timestamp::from_time_point(std::chrono::system_clock::time_point tp) noexcept {
  using dur = std::chrono::system_clock::duration;
  const dur d = tp.time_since_epoch();
  // Truncate toward zero first: flooring could step below dur::min() when converted back.
  const auto whole = std::chrono::duration_cast<std::chrono::seconds>(d);
  dur rest = d - std::chrono::duration_cast<dur>(whole);  // |rest| < 1s
  int64_t secs = static_cast<int64_t>(whole.count());
  if (rest < dur::zero()) {
    rest += std::chrono::duration_cast<dur>(std::chrono::seconds{1});
    --secs;
  }
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(rest).count();
  return from_unix(secs, static_cast<int64_t>(nanos));
}

std::optional<std::chrono::system_clock::time_point> timestamp::to_time_point() const noexcept {
  using dur = std::chrono::system_clock::duration;
  using std::chrono::duration_cast;
  // Whole seconds that fit, computed without ever converting an out-of-range value.
  constexpr auto max_whole = std::chrono::floor<std::chrono::seconds>(dur::max());
  constexpr auto min_whole = std::chrono::ceil<std::chrono::seconds>(dur::min());
  constexpr int64_t max_secs = static_cast<int64_t>(max_whole.count());
  constexpr int64_t min_secs = static_cast<int64_t>(min_whole.count());

  const dur frac = duration_cast<dur>(std::chrono::nanoseconds{nanos_});
  if (seconds_ > max_secs || seconds_ < min_secs - 1) return std::nullopt;
  if (seconds_ == max_secs && frac > dur::max() - duration_cast<dur>(max_whole)) {
    return std::nullopt;
  }
  if (seconds_ == min_secs - 1) {
    // dur::min() lies in (min_secs - 1, min_secs]; gap is in (-1s, 0].
    const dur gap = dur::min() - duration_cast<dur>(min_whole);
    const dur one = duration_cast<dur>(std::chrono::seconds{1});
    if (frac < gap + one) return std::nullopt;
    return std::chrono::system_clock::time_point{duration_cast<dur>(min_whole) + (frac - one)};
  }
  const auto whole = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(seconds_)};
  return std::chrono::system_clock::time_point{duration_cast<dur>(whole) + frac};
}

result<timestamp> timestamp::parse(std::string_view text) {
  constexpr std::size_t base_len = 19;  // YYYY-MM-DDTHH:MM:SS
  if (text.size() < base_len + 1) return parse_error(text, "too short");

  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!parse_digits(text, 0, 4, year) || text[4] != '-') return parse_error(text, "bad year");
  if (!parse_digits(text, 5, 2, month) || text[7] != '-') return parse_error(text, "bad month");
  if (!parse_digits(text, 8, 2, day)) return parse_error(text, "bad day");
  if (text[10] != 'T') return parse_error(text, "expected 'T' between date and time");
  if (!parse_digits(text, 11, 2, hour) || text[13] != ':') return parse_error(text, "bad hour");
  if (!parse_digits(text, 14, 2, minute) || text[16] != ':') {
    return parse_error(text, "bad minute");
  }
  if (!parse_digits(text, 17, 2, second)) return parse_error(text, "bad second");

  if (month < 1 || month > 12) return parse_error(text, "month out of range");
  if (hour > 23) return parse_error(text, "hour out of range");
  if (minute > 59) return parse_error(text, "minute out of range");
  if (second > 59) return parse_error(text, "second out of range");
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return parse_error(text, "day out of range");

  std::size_t pos = base_len;
  int64_t nanos = 0;
  if (text[pos] == '.') {
    ++pos;
    const std::size_t first = pos;
    while (pos < text.size() && is_digit(text[pos])) {
      if (pos - first == 9) return parse_error(text, "more than 9 fraction digits");
      nanos = nanos * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == first) return parse_error(text, "no digits after '.'");
    for (std::size_t i = pos - first; i < 9; ++i) nanos *= 10;
  }

  int64_t offset = 0;  // seconds east of UTC
  bool zulu = true;
  const std::string_view zone = text.substr(pos);
  if (zone.empty()) return parse_error(text, "missing time zone");
  if (zone != "Z") {
    zulu = false;
    if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') {
      return parse_error(text, "bad time zone, expected 'Z' or '+HH:MM'");
    }
    int oh = 0, om = 0;
    if (!parse_digits(zone, 1, 2, oh) || !parse_digits(zone, 4, 2, om) || oh > 23 || om > 59) {
      return parse_error(text, "bad time zone offset");
    }
    offset = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
  }

  const int64_t days = static_cast<int64_t>(std::chrono::sys_days{ymd}.time_since_epoch().count());
  const int64_t secs = days * seconds_per_day + hour * 3600 + minute * 60 + second - offset;
  timestamp t = from_unix(secs, nanos);
  if (!zulu) t.offset_minutes_ = static_cast<std::int16_t>(offset / 60);
  return t;
}

std::optional<std::chrono::minutes> timestamp::utc_offset() const noexcept {
  if (offset_minutes_ == utc) return std::nullopt;
  return std::chrono::minutes(offset_minutes_);
}

result<timestamp> timestamp::with_utc_offset(std::chrono::minutes offset) const {
  if (offset.count() <= -24 * 60 || offset.count() >= 24 * 60) {
    return error{errc::invalid_argument,
                 "UTC offset of " + std::to_string(offset.count()) + " minutes: it must be less than a day"};
  }
  timestamp t = *this;
  t.offset_minutes_ = static_cast<std::int16_t>(offset.count());
  return t;
}

namespace {

// The seconds of the time as its offset shows them, or nullopt when that leaves int64.
std::optional<int64_t> local_seconds(int64_t seconds, std::optional<std::chrono::minutes> offset) noexcept {
  if (!offset) return seconds;
  int64_t local = 0;
  if (__builtin_add_overflow(seconds, static_cast<int64_t>(offset->count()) * 60, &local)) return std::nullopt;
  return local;
}

}  // namespace

std::string timestamp::to_string() const {
  std::optional<std::chrono::minutes> offset = utc_offset();
  std::optional<int64_t> local = local_seconds(seconds_, offset);
  if (!local) {  // an offset that would carry the time past int64 is dropped: written in UTC
    offset.reset();
    local = seconds_;
  }
  // Remainder first: days * 86400 would overflow for the lowest int64 seconds.
  int64_t sod = *local % seconds_per_day;
  int64_t days = *local / seconds_per_day;
  if (sod < 0) {
    sod += seconds_per_day;
    --days;
  }
  const civil_date date = civil_from_days(days);

  // Longest: '-' + 12-digit year + "-MM-DDTHH:MM:SS" + ".nnnnnnnnn" + "+HH:MM" < 64.
  char buf[64];
  char* const end = buf + sizeof buf;
  char* p = write_year(buf, end, date.year);
  *p++ = '-';
  p = write2(p, date.month);
  *p++ = '-';
  p = write2(p, date.day);
  *p++ = 'T';
  const auto tod = static_cast<unsigned>(sod);
  p = write2(p, tod / 3600);
  *p++ = ':';
  p = write2(p, tod / 60 % 60);
  *p++ = ':';
  p = write2(p, tod % 60);
  if (nanos_ != 0) {
    *p++ = '.';
    std::uint32_t n = nanos_;
    int digits = 9;
    while (n % 10 == 0) {  // trim trailing zeros, as Go's RFC3339Nano
      n /= 10;
      --digits;
    }
    for (int i = digits - 1; i >= 0; --i) {
      p[i] = static_cast<char>('0' + n % 10);
      n /= 10;
    }
    p += digits;
  }
  if (!offset) {
    *p++ = 'Z';
  } else {
    const auto minutes = offset->count();
    *p++ = minutes < 0 ? '-' : '+';
    const auto magnitude = static_cast<unsigned>(minutes < 0 ? -minutes : minutes);
    p = write2(p, magnitude / 60);
    *p++ = ':';
    p = write2(p, magnitude % 60);
  }
  return std::string(buf, static_cast<std::size_t>(p - buf));
}

bool timestamp::json_representable() const noexcept {
  const auto local = local_seconds(seconds_, utc_offset());
  return local && *local >= min_json_seconds && *local < end_json_seconds;
}

}  // namespace flowstore
