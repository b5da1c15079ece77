// Teardown under stress: hundreds of short processes that end mid-scan, mid-watch, with full
// watcher buffers or a cancelled list, each checked for LeakSanitizer reports. Built with
// ASan (scripts/test), a message nats.c still held at exit would be reported; the test counts
// the reports and needs none.
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include "support/child_process.hpp"
#include "support/nats_server.hpp"

#include <catch2/catch.hpp>

#include <nats.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using flowstore::test::child_process;
using flowstore::test::nats_server;
using flowstore::test::run_result;
using clock_type = std::chrono::steady_clock;

// 100 flows of about 4 KB, each with 5 revisions, written with nats.c directly.
void seed(const nats_server& server) {
  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, server.url().c_str()) == NATS_OK);
  jsCtx* js = nullptr;
  REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = "semstreams_flows";
  cfg.History = 10;
  kvStore* kv = nullptr;
  REQUIRE(js_CreateKeyValue(&kv, js, &cfg) == NATS_OK);
  for (int i = 0; i < 100; ++i) {
    flowstore::flow f;
    f.id = "flow-" + std::to_string(i);
    f.name = "stress";
    f.state = flowstore::runtime_state::not_deployed;
    f.description = std::string(4000, 'd');
    for (int revision = 1; revision <= 5; ++revision) {
      f.version = revision;
      auto json = flowstore::to_json(f);
      REQUIRE(json);
      std::uint64_t seq = 0;
      REQUIRE(kvStore_Put(&seq, kv, f.id.c_str(), json->data(), static_cast<int>(json->size())) == NATS_OK);
    }
  }
  kvStore_Destroy(kv);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
}

struct job {
  std::string label;
  std::string program;
  std::vector<std::string> args;
  bool interrupt_after_marker = false;  // a watch: SIGINT once the initial values are printed
};

}  // namespace

TEST_CASE("stress: 240 short processes ending mid-scan, mid-watch or with full watchers leave no leak", "[stress]") {
  nats_server server;
  seed(server);
  const std::string url = server.url();
  std::vector<job> jobs;
  for (int i = 0; i < 60; ++i) {
    jobs.push_back({"cli history", FLOWSTORE_CLI, {"history", "flow-" + std::to_string(i % 100), "--server", url}});
    jobs.push_back({"cli list", FLOWSTORE_CLI, {"list", "--server", url}});
  }
  for (int i = 0; i < 40; ++i) jobs.push_back({"cli watch", FLOWSTORE_CLI, {"watch", "--server", url}, true});
  for (const char* mode : {"full-watchers", "watching", "cancelled-list", "scans"}) {
    for (int i = 0; i < 20; ++i) jobs.push_back({std::string("probe ") + mode, FLOWSTORE_EXIT_PROBE, {url, mode}});
  }
  REQUIRE(jobs.size() == 240);
  std::rotate(jobs.begin(), jobs.begin() + 7, jobs.end());  // interleave the kinds a little

  std::map<std::string, int> runs, leaks, failures;
  std::vector<std::string> reports;  // the first few, printed at the end
  auto slowest = clock_type::duration::zero();
  constexpr std::size_t at_once = 4;
  for (std::size_t first = 0; first < jobs.size(); first += at_once) {
    const std::size_t last = std::min(jobs.size(), first + at_once);
    std::deque<std::pair<std::unique_ptr<child_process>, clock_type::time_point>> running;
    for (std::size_t i = first; i < last; ++i) {
      running.emplace_back(std::make_unique<child_process>(jobs[i].program, jobs[i].args), clock_type::now());
    }
    for (std::size_t i = first; i < last; ++i) {
      auto& [process, started] = running[i - first];
      const job& j = jobs[i];
      if (j.interrupt_after_marker) {
        const auto deadline = clock_type::now() + 30s;
        while (auto line = process->read_line(deadline)) {
          if (line->find("initial_values_done") != std::string::npos) break;
        }
        process->signal(SIGINT);
      }
      const run_result r = process->finish(60s);
      slowest = std::max(slowest, clock_type::now() - started);
      ++runs[j.label];
      if (r.err.find("LeakSanitizer") != std::string::npos) {
        ++leaks[j.label];
        if (reports.size() < 5) reports.push_back(j.label + " leaked:\n" + r.err.substr(0, 6000));
      } else if (r.exit_code != 0) {
        ++failures[j.label];
        if (reports.size() < 5) {
          reports.push_back(j.label + " exited " + std::to_string(r.exit_code) + ":\n" + r.err.substr(0, 2000));
        }
      }
    }
  }
  int total_leaks = 0, total_failures = 0;
  for (const auto& text : reports) std::cerr << text << "\n";
  std::cout << "[stress] " << jobs.size() << " processes:";
  for (const auto& [label, n] : runs) {
    std::cout << " " << label << " " << n;
    total_leaks += leaks[label];
    total_failures += failures[label];
  }
  std::cout << "; LeakSanitizer reports: " << total_leaks << "; other failed exits: " << total_failures
            << "; slowest process " << std::chrono::duration<double>(slowest).count() << " s" << std::endl;
  CHECK(total_leaks == 0);
  CHECK(total_failures == 0);
}
