// The flow engine. Each operation checks the flow's state, makes the flow's keys in the runtime
// configuration what the new state needs, and then writes the new state as a compare-and-set on
// the revision it read: of concurrent operations on one flow exactly one wins, and a loser puts
// the keys back to what the winner's state needs. Every key records the flow and the flow
// revision it was written for, so that an operation never undoes a newer one's write; an
// operation interrupted before its state was written finds the flow where it was when it is
// run again, and finishes.
#include <flowstore/engine.hpp>

#include "kv/bucket.hpp"
#include "access.hpp"
#include "model/message.hpp"
#include "store/store_impl.hpp"

#include <boost/json/parse.hpp>

#include <map>

namespace flowstore {

namespace asio = boost::asio;

namespace json = boost::json;
using detail::operation_label;
using detail::quoted;
using detail::kv::entry;
using detail::kv::entry_operation;
using detail::kv::owner_tag;

namespace detail {

class engine_impl {
 public:
  engine_impl(store f, kv::bucket c, component_catalog cat)
      : flows(std::move(f)), config(std::move(c)), catalog(std::move(cat)) {}

  store flows;
  kv::bucket config;
  component_catalog catalog;
  std::function<void(const engine_event&)> observer;

  void tell(engine_event e) const {
    if (observer) observer(e);
  }
};

}  // namespace detail

namespace {

constexpr std::string_view components_pattern = "components.>";
constexpr std::string_view components_prefix = "components.";

enum class operation { deploy, start, stop, undeploy };

struct lifecycle_step {
  std::string_view verb;
  runtime_state target;
  runtime_state from;       // the state the step starts from
  bool also_from_error;     // ... or error (deploy and undeploy recover a failed deployment)
  bool validates;           // the flow must pass validate_deployment()
  bool components;          // the flow's nodes are components afterwards
  bool enabled;             // ... enabled
  std::string_view needs;   // for the error naming the current state
};

lifecycle_step step_of(operation op) {
  using enum runtime_state;
  switch (op) {
    case operation::deploy:
      return {"deploy", deployed_stopped, not_deployed, true, true, true, false, "not_deployed or error"};
    case operation::start:
      return {"start", running, deployed_stopped, false, true, true, true, "deployed_stopped"};
    case operation::stop:
      return {"stop", deployed_stopped, running, false, false, true, false, "running"};
    case operation::undeploy:
      return {"undeploy", not_deployed, deployed_stopped, true, false, false, false, "deployed_stopped or error"};
  }
  return {};
}

std::string state_text(const flow& f) {
  if (f.state == runtime_state::unrecognized) return f.unrecognized_state;
  if (f.state == runtime_state::unset) return "without a state";
  return std::string(to_string(f.state));
}

// A lower layer's error, named after the engine's operation.
error prefixed(const operation_label& what, const error& e) {
  if (e.code == errc::not_found) return {e.code, what + ": no such flow"};
  error named = e;
  named.message = what + ": " + e.message;
  return named;
}

// The errors of a check, for an error message.
std::string listed(const validation_result& r) {
  std::string text = std::to_string(r.errors.size()) + (r.errors.size() == 1 ? " error: " : " errors: ");
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    if (i != 0) text += "; ";
    text += r.errors[i].component_name + ": " + r.errors[i].message;
  }
  return text;
}

bool owned_by(const entry& e, std::string_view id) { return e.owner.flow == id; }

}  // namespace

engine::engine(std::shared_ptr<detail::engine_impl> impl) noexcept : impl_(std::move(impl)) {}

asio::awaitable<result<engine>> engine::open(store flows, component_catalog catalog) {
  return open(std::move(flows), std::move(catalog), engine_options());
}

asio::awaitable<result<engine>> engine::open(store flows, component_catalog catalog, engine_options options) {
  detail::kv::bucket_config config;
  config.name = std::move(options.config_bucket);
  config.description = "SemStreams runtime configuration";
  config.history = options.config_history;
  config.replicas = options.config_replicas;
  config.create_if_missing = options.create_config_bucket;
  config.timeout = flows.operation_timeout();
  auto bound = co_await detail::kv::bucket::open(detail::access::impl(flows)->bucket.connection(), std::move(config));
  if (!bound) co_return std::move(bound).error();
  co_return engine(std::make_shared<detail::engine_impl>(std::move(flows), std::move(bound).value(), std::move(catalog)));
}

void engine::on_event(std::function<void(const engine_event&)> observer) { impl_->observer = std::move(observer); }

const store& engine::flows() const noexcept { return impl_->flows; }
const component_catalog& engine::catalog() const noexcept { return impl_->catalog; }
const std::string& engine::config_bucket() const noexcept { return impl_->config.name(); }

namespace {

// Everything an operation needs to make a flow's keys match its state.
class reconciler {
 public:
  reconciler(detail::engine_impl& e, const operation_label& what, std::string id)
      : e_(e), what_(what), id_(std::move(id)) {}

  // The keys under components. as they are now.
  asio::awaitable<result<void>> read_keys() {
    auto scanned = co_await e_.config.scan(std::string(components_pattern), detail::kv::scan_mode::last_per_key, what_);
    if (!scanned) co_return prefixed(what_, scanned.error());
    for (entry& x : *scanned) keys_.insert_or_assign(x.key, std::move(x));
    co_return success();
  }

  // What apply() does with a key another flow holds: take it when check_free() found it left
  // over, or leave it alone.
  enum class foreign { take_checked, skip };

  // Refuses a key another flow holds, or the runtime's own configuration. A key of a flow that
  // no longer exists or is not deployed is left over and may be taken.
  asio::awaitable<result<void>> check_free(const std::map<std::string, std::string>& desired) {
    for (const auto& [key, bytes] : desired) {
      auto it = keys_.find(key);
      if (it == keys_.end() || it->second.operation != entry_operation::put || owned_by(it->second, id_)) continue;
      const std::string name = key.substr(components_prefix.size());
      if (it->second.owner.flow.empty()) {
        co_return error{errc::already_exists, what_ + ": component " + quoted(name) + " (key " + key +
                                                  ") belongs to the runtime's own configuration"};
      }
      auto holder = co_await e_.flows.get(it->second.owner.flow);
      const bool left_over = (!holder && holder.error().code == errc::not_found) ||
                             (holder && holder->state == runtime_state::not_deployed);
      if (left_over) {
        takeovers_.emplace(key, it->second.revision);
        continue;
      }
      if (!holder) co_return prefixed(what_, holder.error());
      co_return error{errc::already_exists, what_ + ": component " + quoted(name) + " is deployed by flow " +
                                                quoted(it->second.owner.flow) + " (" + state_text(*holder) + ")"};
    }
    co_return success();
  }

  // Writes the desired keys and deletes the flow's others, each marked with `tag`.
  asio::awaitable<result<void>> apply(const std::map<std::string, std::string>& desired, const owner_tag& tag,
                                      foreign policy) {
    for (const auto& [key, bytes] : desired) {
      auto written = co_await put(key, bytes, tag, policy);
      if (!written) co_return std::move(written).error();
    }
    std::vector<std::string> leftovers;
    for (const auto& [key, x] : keys_) {
      if (x.operation == entry_operation::put && owned_by(x, id_) && desired.count(key) == 0) leftovers.push_back(key);
    }
    for (const std::string& key : leftovers) {
      auto removed = co_await erase(key, tag);
      if (!removed) co_return std::move(removed).error();
    }
    co_return success();
  }

  std::vector<deployed_component> owned() const {
    std::vector<deployed_component> out;
    for (const auto& [key, x] : keys_) {
      if (x.operation != entry_operation::put || !owned_by(x, id_)) continue;
      deployed_component c;
      c.key = key;
      c.name = key.substr(components_prefix.size());
      c.revision = x.revision;
      boost::system::error_code ec;
      const json::value v = json::parse(x.value, ec);
      if (!ec && v.is_object()) {
        const json::object& o = v.get_object();
        if (const auto* t = o.if_contains("type"); t && t->is_string()) c.category = component_type_from_string(t->get_string());
        if (const auto* n = o.if_contains("name"); n && n->is_string()) c.component = std::string(n->get_string());
        if (const auto* en = o.if_contains("enabled"); en && en->is_bool()) c.enabled = en->get_bool();
      }
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  // Whether the key's current entry makes a write for `tag` unnecessary: a newer operation on
  // the flow wrote it, or it holds the bytes already.
  static bool settled(const entry& x, const std::string& id, const owner_tag& tag, const std::string* bytes) {
    if (!owned_by(x, id)) return false;
    if (x.owner.revision > tag.revision) return true;
    if (bytes == nullptr) return x.operation != entry_operation::put;
    return x.operation == entry_operation::put && x.value == *bytes;
  }

  // The key's entry now, after a write lost a race.
  asio::awaitable<result<std::optional<entry>>> reread(const std::string& key) {
    auto last = co_await e_.config.get(key, what_);
    if (!last) co_return prefixed(what_, last.error());
    if (*last) keys_.insert_or_assign(key, **last);
    co_return std::move(last).value();
  }

  asio::awaitable<result<void>> put(const std::string& key, const std::string& bytes, const owner_tag& tag,
                                    foreign policy) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto it = keys_.find(key);
      if (it != keys_.end() && settled(it->second, id_, tag, &bytes)) co_return success();
      if (it != keys_.end() && it->second.operation == entry_operation::put && !owned_by(it->second, id_)) {
        auto taken = takeovers_.find(key);
        const bool may_take = policy == foreign::take_checked && taken != takeovers_.end() &&
                              taken->second == it->second.revision;
        if (policy == foreign::skip) co_return success();
        if (!may_take) {
          co_return error{errc::already_exists, what_ + ": component key " + key + " was taken meanwhile by " +
                                                    (it->second.owner.flow.empty() ? std::string("the runtime")
                                                                                   : "flow " + quoted(it->second.owner.flow))};
        }
      }
      const std::uint64_t expected = it == keys_.end() ? 0 : it->second.revision;
      auto written = co_await e_.config.write_owned(key, bytes, expected, false, tag, what_);
      if (written) {
        entry& x = keys_[key];
        x.key = key;
        x.revision = *written;
        x.operation = entry_operation::put;
        x.value = bytes;
        x.owner = tag;
        e_.tell({engine_event::kind::component_written, id_, key});
        co_return success();
      }
      if (written.error().code != errc::conflict) co_return prefixed(what_, written.error());
      auto now = co_await reread(key);
      if (!now) co_return std::move(now).error();
      if (!*now) keys_.erase(key);
    }
    co_return error{errc::conflict, what_ + ": component key " + key + " keeps changing; retry"};
  }

  asio::awaitable<result<void>> erase(const std::string& key, const owner_tag& tag) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto it = keys_.find(key);
      if (it == keys_.end() || !owned_by(it->second, id_) || settled(it->second, id_, tag, nullptr)) co_return success();
      auto removed = co_await e_.config.write_owned(key, std::string(), it->second.revision, true, tag, what_);
      if (removed) {
        it->second.revision = *removed;
        it->second.operation = entry_operation::del;
        it->second.value.clear();
        it->second.owner = tag;
        e_.tell({engine_event::kind::component_removed, id_, key});
        co_return success();
      }
      if (removed.error().code != errc::conflict) co_return prefixed(what_, removed.error());
      auto now = co_await reread(key);
      if (!now) co_return std::move(now).error();
      if (!*now) keys_.erase(key);
    }
    co_return error{errc::conflict, what_ + ": component key " + key + " keeps changing; retry"};
  }

  detail::engine_impl& e_;
  const operation_label& what_;
  std::string id_;
  std::map<std::string, entry> keys_;
  std::map<std::string, std::uint64_t> takeovers_;  // left-over keys of other flows, at the revision checked
};

// The keys and bytes of a flow's components in the given state.
result<std::map<std::string, std::string>> desired_components(const flow& f, const component_catalog& catalog,
                                                              bool enabled, const operation_label& what) {
  std::map<std::string, std::string> desired;
  for (const flow_node& n : f.nodes) {
    const component_spec* spec = catalog.find(n.component);
    const component_type category = spec ? spec->category : n.type;
    auto bytes = component_config_json(n, category, enabled);
    if (!bytes) return error{bytes.error().code, what + ": " + bytes.error().message};
    desired.emplace(component_key(n.name), std::move(bytes).value());
  }
  return desired;
}

// Makes the flow's keys match what its state says, after an operation lost the race for the
// flow: the keys the loser wrote are overwritten or removed, and what the winner wrote stays.
asio::awaitable<void> repair(detail::engine_impl& e, const std::string& id, std::uint64_t read_revision,
                             const operation_label& what) {
  auto latest = co_await e.flows.get(id);
  reconciler keys(e, what, id);
  if (!co_await keys.read_keys()) co_return;
  std::map<std::string, std::string> desired;
  owner_tag tag{id, read_revision + 1};  // a removed flow: newer than anything written for it
  if (latest) {
    if (latest->state == runtime_state::error) co_return;  // the runtime's verdict: leave its keys
    if (latest->state == runtime_state::deployed_stopped || latest->state == runtime_state::running) {
      auto d = desired_components(*latest, e.catalog, latest->state == runtime_state::running, what);
      if (!d) co_return;
      desired = std::move(d).value();
    }
    tag.revision = latest->revision;
  } else if (latest.error().code != errc::not_found) {
    co_return;
  }
  (void)co_await keys.apply(desired, tag, reconciler::foreign::skip);
}

asio::awaitable<result<flow>> run_step(std::shared_ptr<detail::engine_impl> impl, std::string id, operation op) {
  detail::engine_impl& e = *impl;
  const lifecycle_step step = step_of(op);
  const operation_label what{step.verb, id};
  if (!valid_flow_id(id)) {
    co_return error{errc::invalid_id, what + ": not a valid flow id"};
  }
  auto current = co_await e.flows.get(id);
  if (!current) co_return prefixed(what, current.error());
  const bool startable = current->state == step.from || (step.also_from_error && current->state == runtime_state::error);
  if (!startable) {
    co_return error{errc::invalid_state,
                    what + ": the flow is " + state_text(*current) + "; " + std::string(step.verb) + " needs " +
                        std::string(step.needs)};
  }
  if (step.validates) {
    const validation_result report = validate_deployment(*current, e.catalog);
    if (!report.deployable()) co_return error{errc::validation_failed, what + ": " + listed(report)};
  }
  std::map<std::string, std::string> desired;
  if (step.components) {
    auto d = desired_components(*current, e.catalog, step.enabled, what);
    if (!d) co_return std::move(d).error();
    desired = std::move(d).value();
  }

  // The keys first, the state last: until the state is written, a retry of the same operation
  // finds the flow where it was and finishes the keys.
  reconciler keys(e, what, id);
  if (auto r = co_await keys.read_keys(); !r) co_return std::move(r).error();
  if (auto r = co_await keys.check_free(desired); !r) co_return std::move(r).error();
  const std::uint64_t read_revision = current->revision;
  const owner_tag tag{id, read_revision};
  if (auto r = co_await keys.apply(desired, tag, reconciler::foreign::take_checked); !r) {
    co_return std::move(r).error();
  }

  const runtime_state before = current->state;
  flow next = std::move(current).value();
  next.state = step.target;
  const timestamp now = timestamp::now();
  switch (op) {
    case operation::deploy:
      next.deployed_at = now;
      next.started_at.reset();
      next.stopped_at.reset();
      break;
    case operation::start:
      next.started_at = now;
      break;
    case operation::stop:
      next.stopped_at = now;
      break;
    case operation::undeploy:
      next.deployed_at.reset();
      next.started_at.reset();
      next.stopped_at.reset();
      break;
  }
  auto updated = co_await e.flows.update(std::move(next));
  if (!updated) {
    if (updated.error().code == errc::conflict || updated.error().code == errc::not_found) {
      co_await repair(e, id, read_revision, what);
      co_return error{errc::conflict, what + ": the flow changed while it was " + std::string(step.verb) +
                                           "ed (an edit or another operation won); its components match the "
                                           "flow as it is now; reload and retry"};
    }
    co_return prefixed(what, updated.error());
  }
  e.tell({engine_event::kind::state_changed, id, {}, before, updated->state});
  co_return updated;
}

}  // namespace

// The operations are coroutines of their own that hold the engine's binding: an engine object
// may go before the awaitables it made have run.
asio::awaitable<result<flow>> engine::deploy(std::string id) { return run_step(impl_, std::move(id), operation::deploy); }
asio::awaitable<result<flow>> engine::start(std::string id) { return run_step(impl_, std::move(id), operation::start); }
asio::awaitable<result<flow>> engine::stop(std::string id) { return run_step(impl_, std::move(id), operation::stop); }
asio::awaitable<result<flow>> engine::undeploy(std::string id) {
  return run_step(impl_, std::move(id), operation::undeploy);
}

namespace {

// What an edit changes: everything but the lifecycle and the audit fields.
bool same_content(const flow& a, const flow& b) {
  return a.name == b.name && a.description == b.description && a.nodes == b.nodes &&
         a.connections == b.connections && a.unknown_fields == b.unknown_fields;
}

// Whether the flow's content at `version` (its latest incarnation) is the content of `current`:
// then only lifecycle writes came after it. False when that revision is no longer kept.
asio::awaitable<bool> content_unchanged_since(store& flows, const flow& current, std::int64_t version) {
  auto revisions = co_await flows.history(current.id);
  if (!revisions) co_return false;
  for (auto it = revisions->rbegin(); it != revisions->rend(); ++it) {
    if (it->operation != revision_operation::put) break;  // an older incarnation
    if (!it->content || !*it->content) continue;
    const flow& earlier = **it->content;
    if (earlier.version == version) co_return same_content(earlier, current);
    if (earlier.version < version) break;
  }
  co_return false;
}

}  // namespace

namespace {

asio::awaitable<result<flow>> edit_flow(std::shared_ptr<detail::engine_impl> impl, flow f) {
  const std::string id = f.id;  // the label outlives `f`, which the update takes
  const operation_label what{"edit", id};
  auto current = co_await impl->flows.get(f.id);
  if (!current) co_return prefixed(what, current.error());
  if (current->state == runtime_state::running) {
    co_return error{errc::invalid_state, what + ": the flow is running; stop it first"};
  }
  // A client that read the flow before a deploy, start or stop holds an older version, though
  // nobody changed what it edits: its edit applies on top. A content change since its version
  // stays a conflict.
  if (f.version > 0 && f.version < current->version &&
      co_await content_unchanged_since(impl->flows, *current, f.version)) {
    f.version = current->version;
  }
  // The lifecycle is the engine's and the audit fields the store's: whatever the client sent.
  f.revision = current->revision;
  f.state = current->state;
  f.unrecognized_state = current->unrecognized_state;
  f.deployed_at = current->deployed_at;
  f.started_at = current->started_at;
  f.stopped_at = current->stopped_at;
  f.created_at = current->created_at;
  f.created_by = current->created_by;
  auto updated = co_await impl->flows.update(std::move(f));
  if (!updated) co_return prefixed(what, updated.error());
  co_return updated;
}

asio::awaitable<result<void>> remove_flow(std::shared_ptr<detail::engine_impl> impl, std::string id) {
  const operation_label what{"remove", id};
  auto current = co_await impl->flows.get(id);
  if (!current) co_return prefixed(what, current.error());
  if (current->state == runtime_state::running || current->state == runtime_state::deployed_stopped) {
    co_return error{errc::invalid_state, what + ": the flow is " + state_text(*current) + "; undeploy it first"};
  }
  reconciler keys(*impl, what, id);
  if (auto r = co_await keys.read_keys(); !r) co_return std::move(r).error();
  const std::map<std::string, std::string> none;
  const owner_tag tag{id, current->revision};
  if (auto r = co_await keys.apply(none, tag, reconciler::foreign::skip); !r) {
    co_return std::move(r).error();
  }
  auto removed = co_await impl->flows.remove(id, current->version);
  if (!removed) co_return prefixed(what, removed.error());
  co_return success();
}

asio::awaitable<result<std::vector<deployed_component>>> components_of(std::shared_ptr<detail::engine_impl> impl,
                                                                      std::string id) {
  const operation_label what{"components of", id};
  if (!valid_flow_id(id)) co_return error{errc::invalid_id, what + ": not a valid flow id"};
  reconciler keys(*impl, what, id);
  if (auto r = co_await keys.read_keys(); !r) co_return std::move(r).error();
  co_return keys.owned();
}

}  // namespace

asio::awaitable<result<flow>> engine::edit(flow f) { return edit_flow(impl_, std::move(f)); }

asio::awaitable<result<void>> engine::remove(std::string id) { return remove_flow(impl_, std::move(id)); }

asio::awaitable<result<std::vector<deployed_component>>> engine::components(std::string id) {
  return components_of(impl_, std::move(id));
}

}  // namespace flowstore
