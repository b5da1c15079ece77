// The requests of one connection that wait for replies on its inbox, by token (the last token of
// a request's reply subject). No I/O and no threads: the connection drives it from its strand,
// and the unit tests drive it directly.
//
// A request is `once` (its first reply completes it) or a `stream` (every message on its reply
// subject goes to it until its owner removes it; touching it with each message makes its
// deadline measure silence). Tokens carry a generation, so a late reply to a finished request
// never reaches the request that reuses its slot. Deadlines wait in one queue per timeout
// length, sorted by construction, so adding and expiring cost no tree node. A touch queues a new
// deadline only once it moved by a quarter of the timeout; a deadline that comes due after a
// smaller move waits in a small heap for the exact one. So every request expires exactly at its
// deadline, and a busy stream costs a queue entry per quarter timeout, not one per message.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flowstore::detail {

enum class request_kind : std::uint8_t { once, stream };

template <class Waiter>
class request_table {
 public:
  using clock = std::chrono::steady_clock;

  /// Adds a request published to `subject` (kept for matching a permissions violation to it);
  /// returns its token, which is never 0.
  std::uint64_t add(Waiter waiter, request_kind kind, std::chrono::milliseconds timeout, clock::time_point now,
                    std::string subject) {
    std::uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slot& s = slots_[index];
    s.token = make_token(index, ++s.generation);
    s.kind = kind;
    s.order = ++added_;
    s.queue = queue_for(timeout);
    s.deadline = now + timeout;
    s.extended = s.deadline;
    s.subject = std::move(subject);
    s.waiter.emplace(std::move(waiter));
    queues_[s.queue].entries.push_back({s.deadline, s.token});
    ++live_;
    return s.token;
  }

  /// The waiter of a live request, or null (finished, expired, or never issued).
  Waiter* find(std::uint64_t token) noexcept {
    slot* s = live_slot(token);
    return s == nullptr ? nullptr : &*s->waiter;
  }

  std::optional<request_kind> kind_of(std::uint64_t token) const noexcept {
    const slot* s = const_cast<request_table*>(this)->live_slot(token);
    return s == nullptr ? std::nullopt : std::optional<request_kind>(s->kind);
  }

  /// Removes a live request and returns its waiter; nullopt when it is not live.
  std::optional<Waiter> take(std::uint64_t token) {
    slot* s = live_slot(token);
    if (s == nullptr) return std::nullopt;
    std::optional<Waiter> w = std::move(s->waiter);
    const std::uint32_t queue = s->queue;
    release(*s, index_of(token));
    drop_stale_front(queue);
    return w;
  }

  /// Restarts a live request's deadline from `now` (a stream's message arrived). `now` never
  /// goes back.
  void touch(std::uint64_t token, clock::time_point now) {
    slot* s = live_slot(token);
    if (s == nullptr) return;
    const auto timeout = queues_[s->queue].timeout;
    s->extended = now + timeout;
    if (s->extended - s->deadline < timeout / 4) return;
    s->deadline = s->extended;
    queues_[s->queue].entries.push_back({s->deadline, s->token});
  }

  /// The earliest deadline of a live request (possibly a little early: a stale entry's).
  std::optional<clock::time_point> next_deadline() const noexcept {
    std::optional<clock::time_point> first;
    for (const auto& q : queues_) {
      for (const auto& e : q.entries) {
        if (!current(e)) continue;  // stale entries ahead of the first live one
        if (!first || e.deadline < *first) first = e.deadline;
        break;
      }
    }
    if (!rechecks_.empty() && (!first || rechecks_.front().deadline < *first)) first = rechecks_.front().deadline;
    return first;
  }

  /// Removes every request whose deadline is at or before `now`, calling
  /// `on_expired(token, Waiter&&)` for each, earliest first within a timeout length. The
  /// callback may add requests.
  template <class F>
  void expire(clock::time_point now, F&& on_expired) {
    auto due = [&](const deadline_entry& e) {
      slot& s = slots_[index_of(e.token)];
      if (s.extended > e.deadline) {
        // Touched since, by less than a quarter timeout: due again at its exact deadline.
        s.deadline = s.extended;
        rechecks_.push_back({s.deadline, s.token});
        std::push_heap(rechecks_.begin(), rechecks_.end(), later);
        return;
      }
      auto w = take(e.token);
      on_expired(e.token, std::move(*w));
    };
    for (std::size_t q = 0; q < queues_.size(); ++q) {
      while (!queues_[q].entries.empty()) {
        const deadline_entry e = queues_[q].entries.front();
        if (current(e) && e.deadline > now) break;
        queues_[q].entries.pop_front();
        if (current(e)) due(e);
      }
    }
    while (!rechecks_.empty() && rechecks_.front().deadline <= now) {
      std::pop_heap(rechecks_.begin(), rechecks_.end(), later);
      const deadline_entry e = rechecks_.back();
      rechecks_.pop_back();
      if (current(e)) due(e);
    }
  }

  /// Removes every request, then calls `f(token, Waiter&&)` for each in the order they were
  /// added. The table is empty before the first call, so `f` may add requests.
  template <class F>
  void take_all(F&& f) {
    // Ordered before anything moves: a waiter may be moved only by construction (Asio 1.81's
    // any_completion_handler breaks on move assignment).
    std::vector<std::pair<std::uint64_t, std::uint32_t>> order;  // (added, slot index)
    order.reserve(live_);
    for (std::uint32_t index = 0; index < slots_.size(); ++index) {
      if (slots_[index].waiter) order.emplace_back(slots_[index].order, index);
    }
    std::sort(order.begin(), order.end());
    std::vector<std::pair<std::uint64_t, Waiter>> all;
    all.reserve(order.size());
    for (const auto& [added, index] : order) {
      slot& s = slots_[index];
      all.emplace_back(s.token, std::move(*s.waiter));
      release(s, index);
    }
    for (auto& q : queues_) q.entries.clear();
    rechecks_.clear();
    for (auto& [token, waiter] : all) f(token, std::move(waiter));
  }

  /// The subject a live request was published to.
  const std::string* subject_of(std::uint64_t token) const noexcept {
    const slot* s = const_cast<request_table*>(this)->live_slot(token);
    return s == nullptr ? nullptr : &s->subject;
  }

  /// The live request added first among those published to `subject`.
  std::optional<std::uint64_t> oldest_with_subject(std::string_view subject) const noexcept {
    const slot* oldest = nullptr;
    for (const slot& s : slots_) {
      if (s.waiter && s.subject == subject && (oldest == nullptr || s.order < oldest->order)) oldest = &s;
    }
    return oldest == nullptr ? std::nullopt : std::optional<std::uint64_t>(oldest->token);
  }

  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }

  /// Deadline entries kept, stale ones included (for tests of the bookkeeping's bound).
  std::size_t deadline_entries() const noexcept {
    std::size_t n = rechecks_.size();
    for (const auto& q : queues_) n += q.entries.size();
    return n;
  }

 private:
  static constexpr unsigned index_bits = 24;
  static constexpr std::uint64_t index_mask = (std::uint64_t{1} << index_bits) - 1;

  struct deadline_entry {
    clock::time_point deadline;
    std::uint64_t token;
  };
  static bool later(const deadline_entry& a, const deadline_entry& b) noexcept { return a.deadline > b.deadline; }

  struct deadline_queue {
    std::chrono::milliseconds timeout;
    std::deque<deadline_entry> entries;  // sorted: every entry is added at now + timeout
  };
  struct slot {
    std::uint64_t token = 0;  // 0 while free
    std::uint64_t generation = 0;
    std::uint64_t order = 0;
    request_kind kind = request_kind::once;
    std::uint32_t queue = 0;
    clock::time_point deadline{};  // the latest one queued (or in the heap)
    clock::time_point extended{};  // the latest asked for by touch()
    std::string subject;
    std::optional<Waiter> waiter;
  };

  static std::uint64_t make_token(std::uint32_t index, std::uint64_t generation) noexcept {
    return (generation << index_bits) | index;
  }
  static std::uint32_t index_of(std::uint64_t token) noexcept { return static_cast<std::uint32_t>(token & index_mask); }

  slot* live_slot(std::uint64_t token) noexcept {
    const std::uint32_t index = index_of(token);
    if (token == 0 || index >= slots_.size()) return nullptr;
    slot& s = slots_[index];
    return s.token == token && s.waiter ? &s : nullptr;
  }

  // An entry is current while its request is live and the entry holds its latest deadline.
  bool current(const deadline_entry& e) const noexcept {
    const slot* s = const_cast<request_table*>(this)->live_slot(e.token);
    return s != nullptr && s->deadline == e.deadline;
  }

  void release(slot& s, std::uint32_t index) {
    s.waiter.reset();
    s.token = 0;
    s.subject.clear();
    free_.push_back(index);
    --live_;
  }

  // Keeps each queue's front current, so that finished requests do not pile up behind it.
  void drop_stale_front(std::uint32_t queue) {
    auto& entries = queues_[queue].entries;
    while (!entries.empty() && !current(entries.front())) entries.pop_front();
  }

  std::uint32_t queue_for(std::chrono::milliseconds timeout) {
    for (std::uint32_t q = 0; q < queues_.size(); ++q) {
      if (queues_[q].timeout == timeout) return q;
    }
    queues_.push_back({timeout, {}});
    return static_cast<std::uint32_t>(queues_.size() - 1);
  }

  std::vector<slot> slots_;
  std::vector<std::uint32_t> free_;
  std::vector<deadline_queue> queues_;
  std::vector<deadline_entry> rechecks_;  // a min-heap by deadline
  std::uint64_t added_ = 0;
  std::size_t live_ = 0;
};

}  // namespace flowstore::detail
