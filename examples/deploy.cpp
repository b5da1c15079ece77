// Deploy: a flow taken through its lifecycle by the engine — checked against the component
// catalog, deployed (its components written to semstreams_config, disabled), started
// (enabled), stopped and undeployed (removed) — each step printed with the keys it left.
//
//   deploy [nats://127.0.0.1:4222]
#include <flowstore/engine.hpp>

#include "example_main.hpp"

#include <iostream>

namespace asio = boost::asio;

namespace {

asio::awaitable<void> print_components(flowstore::engine& engine, const std::string& id) {
  auto components = co_await engine.components(id);
  if (!components) co_return;
  for (const auto& c : *components) {
    std::cout << "         " << c.key << " (" << c.component << ", " << (c.enabled ? "enabled" : "disabled") << ")\n";
  }
}

}  // namespace

asio::awaitable<int> run(std::string url) {
  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;
  auto engine = co_await flowstore::engine::open(store, flowstore::component_catalog::standard());
  if (!engine) {
    std::cerr << engine.error().what() << '\n';
    co_return 1;
  }

  // A udp input feeding a JSON filter: the filter's input subject matches the udp output's.
  flowstore::flow f;
  f.id = "deploy-demo";
  f.name = "Deploy demo";
  f.nodes.push_back({.id = "in",
                     .component = "udp",
                     .type = flowstore::component_type::input,
                     .name = "demo-udp",
                     .config = {{"port", 14550}}});
  f.nodes.push_back({.id = "filter",
                     .component = "json_filter",
                     .type = flowstore::component_type::processor,
                     .name = "demo-filter",
                     .config = {{"ports", {{"inputs", {{{"name", "in"}, {"subject", "input.udp.>"}}}}}}}});
  auto created = co_await store.create(f);
  if (!created) {
    std::cerr << created.error().what() << '\n';
    co_return 1;
  }

  // What deploy will check, without deploying.
  const flowstore::validation_result check = flowstore::validate_deployment(*created, engine->catalog());
  std::cout << "checked  " << flowstore::to_string(check.status) << ": " << check.errors.size() << " errors, "
            << check.warnings.size() << " warnings, " << check.discovered_connections.size()
            << " connection discovered\n";

  for (auto step : {&flowstore::engine::deploy, &flowstore::engine::start, &flowstore::engine::stop,
                    &flowstore::engine::undeploy}) {
    auto done = co_await ((*engine).*step)("deploy-demo");
    if (!done) {
      std::cerr << done.error().what() << '\n';
      co_return 1;
    }
    std::cout << "state    " << flowstore::to_string(done->state) << " (version " << done->version << ")\n";
    co_await print_components(*engine, "deploy-demo");
  }

  // What the state does not allow is errc::invalid_state, of category invalid.
  auto refused = co_await engine->stop("deploy-demo");
  std::cout << "refused  " << refused.error().message << '\n';

  auto removed = co_await engine->remove("deploy-demo");
  std::cout << "removed  " << (removed ? "yes" : removed.error().message) << '\n';
  co_await conn.close();
  co_return 0;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
