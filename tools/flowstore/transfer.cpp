// export and import: one file per flow, a progress display, a summary; import pipelines its
// writes through a pool of coroutines over a shared queue.
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>

#include "cli.hpp"
#include "session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace flowstore::cli {

namespace asio = boost::asio;

namespace {

namespace fs = std::filesystem;


// Progress on stderr: a redrawn bar on a terminal, a line per tenth otherwise (logs and pipes).
class progress {
 public:
  progress(std::string label, std::size_t total)
      : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) == 1) {}

  void update(std::size_t done) {
    // A handful of files needs no progress: the summary says it all.
    if (total_ < min_total) return;
    if (tty_) {
      const auto now = std::chrono::steady_clock::now();
      if (done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
      last_draw_ = now;
      constexpr std::size_t width = 30;
      const std::size_t filled = done * width / total_;
      std::string bar(filled, '#');
      bar.append(width - filled, '.');
      std::fprintf(stderr, "\r%s [%s] %zu/%zu %3zu%%\x1b[K", label_.c_str(), bar.c_str(), done, total_,
                   done * 100 / total_);
      std::fflush(stderr);
      drawn_ = true;
    } else {
      const std::size_t tenth = done * 10 / total_;
      if (tenth == last_tenth_ && done != total_) return;
      if (done == total_ && printed_total_) return;
      last_tenth_ = tenth;
      printed_total_ = done == total_;
      std::fprintf(stderr, "%s: %zu/%zu\n", label_.c_str(), done, total_);
    }
  }

  // Clears the bar so that the summary takes its place.
  void finish() {
    if (tty_ && drawn_) {
      std::fprintf(stderr, "\r\x1b[K");
      std::fflush(stderr);
    }
  }

 private:
  static constexpr std::size_t min_total = 50;
  std::string label_;
  std::size_t total_;
  bool tty_;
  bool drawn_ = false;
  bool printed_total_ = false;
  std::size_t last_tenth_ = 0;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string seconds_since(std::chrono::steady_clock::time_point start) {
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", elapsed);
  return text;
}

// At most this many failures are listed one per line; the rest are counted.
constexpr std::size_t max_listed_failures = 100;

// ---------------------------------------------------------------------------------------------
// export

// Writes next to the target and renames, so that an interrupted export leaves no half file; a
// failed write removes what it wrote and says why.
bool write_file(const fs::path& path, const std::string& text, std::string& problem) {
  // A short name of its own: the target's name plus a suffix could pass the 255-byte limit.
  static unsigned counter = 0;
  const fs::path partial =
      path.parent_path() / (".flowstore-" + std::to_string(getpid()) + "-" + std::to_string(++counter) + ".partial");
  auto failed = [&](const fs::path& where, int why) {
    problem = "cannot write " + quote(where.string()) + ": " + std::strerror(why);
    std::error_code ignored;
    fs::remove(partial, ignored);
    return false;
  };
  std::FILE* out = std::fopen(partial.c_str(), "wb");
  if (out == nullptr) return failed(partial, errno);
  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  const int write_error = errno;
  const bool closed = std::fclose(out) == 0;
  if (!written || !closed) return failed(partial, written ? errno : write_error);
  std::error_code ec;
  fs::rename(partial, path, ec);
  if (ec) return failed(path, ec.value());
  return true;
}

asio::awaitable<int> export_flows(store& s, export_args a) {
  const auto start = std::chrono::steady_clock::now();
  auto listed = co_await s.list();
  if (!listed) co_return report(listed.error());
  int code = exit_ok;
  std::size_t written = 0;
  std::size_t failed = 0;
  progress bar("export", listed->flows.size());
  for (const flow& f : listed->flows) {
    auto json = to_json(f);
    std::string problem;
    if (!json) {
      bar.finish();
      code = std::max(code, report(json.error()));
      ++failed;
    } else if (!write_file(fs::path(a.dir) / export_file_name(f.id), pretty_json(*json) + '\n', problem)) {
      bar.finish();
      code = std::max(code, report("export flow " + quote(f.id) + ": " + problem, exit_usage));
      ++failed;
    } else {
      ++written;
    }
    bar.update(written + failed);
  }
  bar.finish();
  for (const list_failure& failure : listed->failures) {
    code = std::max(code, report(failure.problem));
    ++failed;
  }
  std::cout << "exported " << written << (written == 1 ? " flow" : " flows") << " to " << quote(a.dir) << " in "
            << seconds_since(start);
  if (failed != 0) std::cout << ", " << failed << " failed";
  std::cout << '\n';
  co_return code;
}

// ---------------------------------------------------------------------------------------------
// import

enum class outcome { pending, created, updated, exists, unchanged, failed };

struct import_item {
  std::string file;         // name within the directory, for messages
  std::optional<flow> doc;  // empty when the file could not be read or decoded
  outcome result = outcome::pending;
  std::optional<error> problem;
};

// Everything the workers share. One io_context thread: plain members suffice.
struct import_job {
  store target;
  import_args args;
  std::vector<import_item> items;
  std::size_t next = 0;
  std::size_t done = 0;
  progress bar;
};

// Equal but for what the store manages itself (version, revision and audit times): importing
// the file would change nothing a user made.
bool same_content(flow a, flow b) {
  for (flow* f : {&a, &b}) {
    f->version = 0;
    f->revision = 0;
    f->created_at = {};
    f->updated_at = {};
    f->last_modified = {};
  }
  return a == b;
}

void fail(import_item& item, error e) {
  item.result = outcome::failed;
  item.problem = std::move(e);
}

// Creates the flow; when it exists, updates it (--update honours the file's version, --force
// overwrites whatever is stored) unless the stored document is already the file's.
asio::awaitable<void> import_one(store& s, const import_args& args, import_item& item) {
  flow doc = *item.doc;
  auto created = co_await s.create(doc);
  if (created) {
    item.result = outcome::created;
    co_return;
  }
  if (created.error().code != errc::already_exists) co_return fail(item, std::move(created).error());
  if (!args.update) {
    item.result = outcome::exists;
    co_return;
  }
  auto current = co_await s.get(doc.id);
  if (!current) co_return fail(item, std::move(current).error());
  if (same_content(doc, *current)) {
    item.result = outcome::unchanged;
    co_return;
  }
  if (args.force) {
    doc.version = current->version;
  } else if (doc.version != current->version) {
    co_return fail(item, error{errc::conflict, "update flow " + quote(doc.id) + ": conflict: the file has version " +
                                                   std::to_string(doc.version) + ", the store version " +
                                                   std::to_string(current->version) + " (--force overwrites)"});
  }
  // Compare-and-set against the revision just read: a writer in between still wins.
  doc.revision = current->revision;
  auto updated = co_await s.update(std::move(doc));
  if (!updated) co_return fail(item, std::move(updated).error());
  item.result = outcome::updated;
}

asio::awaitable<void> import_worker(std::shared_ptr<import_job> job) {
  while (job->next < job->items.size()) {
    import_item& item = job->items[job->next++];
    if (item.result == outcome::pending) co_await import_one(job->target, job->args, item);
    job->bar.update(++job->done);
  }
}

asio::awaitable<int> import_flows(store& s, import_args a, std::vector<import_item> items, std::size_t not_files) {
  const auto start = std::chrono::steady_clock::now();
  auto executor = co_await asio::this_coro::executor;
  const std::size_t total = items.size();
  auto job = std::make_shared<import_job>(import_job{s, a, std::move(items), 0, 0, progress("import", total)});

  // Many creates in flight at once: each worker takes the next file when its write completes.
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(a.concurrency), total);
  std::size_t running = workers;
  std::exception_ptr crashed;
  asio::steady_timer all_done(executor, asio::steady_timer::time_point::max());
  for (std::size_t i = 0; i < workers; ++i) {
    asio::co_spawn(executor, import_worker(job), [&running, &all_done, &crashed](std::exception_ptr e) {
      if (e && !crashed) crashed = e;
      if (--running == 0) all_done.cancel();
    });
  }
  while (running > 0) co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (crashed) std::rethrow_exception(crashed);
  job->bar.finish();

  std::size_t created = 0, updated = 0, exists = 0, unchanged = 0, failed = 0;
  int code = exit_ok;
  for (const import_item& item : job->items) {
    switch (item.result) {
      case outcome::created:
        ++created;
        break;
      case outcome::updated:
        ++updated;
        break;
      case outcome::exists:
        ++exists;
        break;
      case outcome::unchanged:
        ++unchanged;
        break;
      case outcome::pending:
      case outcome::failed:
        ++failed;
        if (item.problem) {
          const int item_code = exit_code_for(*item.problem);
          code = std::max(code, item_code);
          if (failed <= max_listed_failures)
            report("import " + quote(item.file) + ": " + describe(*item.problem), item_code);
        }
        break;
    }
  }
  if (failed > max_listed_failures) {
    report("import: " + std::to_string(failed - max_listed_failures) + " more failures not listed", code);
  }
  const std::size_t entries = total + not_files;
  std::cout << "import " << quote(a.dir) << ": " << entries << (entries == 1 ? " file" : " files") << " in "
            << seconds_since(start) << ": " << created << " created, " << updated << " updated, "
            << exists + unchanged + not_files << " skipped";
  if (exists + unchanged + not_files != 0) {
    std::vector<std::string> why;
    if (exists != 0) why.push_back(std::to_string(exists) + " existing" + (a.update ? "" : ", use --update"));
    if (unchanged != 0) why.push_back(std::to_string(unchanged) + " unchanged");
    if (not_files != 0) why.push_back(std::to_string(not_files) + " not files");
    std::cout << " (";
    for (std::size_t i = 0; i < why.size(); ++i) std::cout << (i == 0 ? "" : "; ") << why[i];
    std::cout << ')';
  }
  std::cout << ", " << failed << " failed\n";
  co_return code;
}

}  // namespace

int run_export(const server_settings& s, const export_args& a) {
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec || !fs::is_directory(a.dir)) {
    return report("export: cannot create directory " + quote(a.dir) + (ec ? ": " + ec.message() : ""), exit_usage);
  }
  return run_with_store(s, [a](store& st, connection&) { return export_flows(st, a); }, {});
}

int run_import(const server_settings& s, const import_args& a) {
  std::error_code ec;
  if (!fs::is_directory(a.dir, ec)) return report("import: " + quote(a.dir) + " is not a directory", exit_usage);

  std::vector<fs::path> files;
  std::vector<std::pair<fs::path, std::string>> not_files;  // *.json entries that are not files
  for (fs::directory_iterator it(a.dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".json") continue;
    std::error_code status_ec;
    if (it->is_regular_file(status_ec)) {
      files.push_back(it->path());
    } else if (it->is_directory(status_ec)) {
      not_files.emplace_back(it->path(), "a directory");
    } else if (it->is_symlink(status_ec) && !fs::exists(it->path(), status_ec)) {
      not_files.emplace_back(it->path(), "a symbolic link to nothing");
    } else {
      not_files.emplace_back(it->path(), "not a regular file");
    }
  }
  if (ec) return report("import: cannot read directory " + quote(a.dir) + ": " + ec.message(), exit_usage);
  std::sort(files.begin(), files.end());
  std::sort(not_files.begin(), not_files.end());
  for (const auto& [path, what] : not_files) {
    report("import " + quote(path.filename().string()) + ": skipped: " + what, exit_ok);
  }

  // Local files are read before connecting; a file that is not a flow fails alone.
  std::vector<import_item> items;
  items.reserve(files.size());
  for (const fs::path& path : files) {
    import_item& item = items.emplace_back();
    item.file = path.filename().string();
    std::string problem;
    auto text = read_input(path.string(), problem);
    if (!text) {
      fail(item, error{errc::invalid_argument, problem});
      continue;
    }
    auto decoded = parse_flow_file(*text, "");
    if (!decoded) {
      fail(item, std::move(decoded).error());
      continue;
    }
    // As create() does: a document without a runtime state is a flow not deployed. Applied here
    // so that the update path (which does not default it) and the comparison agree.
    if (decoded->state == runtime_state::unset) decoded->state = runtime_state::not_deployed;
    item.doc = std::move(decoded).value();
  }
  if (items.empty()) {
    std::cout << "import " << quote(a.dir) << ": no *.json files";
    if (!not_files.empty()) std::cout << " (" << not_files.size() << " skipped, not files)";
    std::cout << '\n';
    return exit_ok;
  }
  const std::size_t skipped = not_files.size();
  return run_with_store(
      s, [a, items = std::move(items), skipped](store& st, connection&) { return import_flows(st, a, items, skipped); },
      {});
}

}  // namespace flowstore::cli
