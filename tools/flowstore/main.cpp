// flowstore: the command line of the flow store — list, read, write, watch, export and import
// flow documents in a NATS JetStream KV bucket. Argument parsing here; the commands in
// commands.cpp and transfer.cpp.
#include <flowstore/store.hpp>

#include "cli.hpp"
#include "connection_flags.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace flowstore::cli;

constexpr const char* exit_codes_help =
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage: wrong arguments, or a named file or directory cannot be read or written\n"
    "  2  invalid: the flow does not exist, a version conflict, the flow exists already,\n"
    "     the document is not a flow or fails validation, a bad id, credentials refused\n"
    "  3  transient: no server reachable, timeout, disconnected, JetStream unavailable;\n"
    "     a retry may succeed\n"
    "  4  fatal: a stored document is corrupt, or an error flowstore cannot classify\n";

std::string footer(const std::string& examples) { return "Examples:\n" + examples + "\n\n" + exit_codes_help; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flowstore: manage flow documents (visual dataflow graphs) stored in a NATS JetStream KV bucket.",
               "flowstore"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flowstore 0.1.0");
  app.footer(
      footer("  flowstore list\n"
             "  flowstore get my-flow > my-flow.json\n"
             "  flowstore update my-flow.json\n"
             "  flowstore --help-all            every command's options\n"
             "  flowstore COMMAND --help        one command's options and examples"));
  app.set_help_all_flag("--help-all", "Print help for every command and exit");

  connection_flags before_command;  // flags given before the command name, and the environment
  connection_flags after_command;   // the same flags given after it
  add_connection_options(&app, before_command, true);

  auto* list = app.add_subcommand("list", "List the flows: a table (id, name, state, version, nodes, updated)");
  list_args list_a;
  list->add_flag("--json", list_a.json, "print a JSON array of the flow documents instead");
  list->footer(footer("  flowstore list\n  flowstore list --json --server nats://nats.example:4222"));

  auto* get = app.add_subcommand("get", "Print one flow as indented JSON");
  get_args get_a;
  get->add_option("ID", get_a.id, "flow id")->required();
  get->add_flag("--raw", get_a.raw,
                "print the compact document as stored (re-encoded from the decoded flow: the same bytes\n"
                "for documents written by flowstore or the Go package)");
  get->footer(footer("  flowstore get my-flow\n  flowstore get my-flow --raw | sha256sum"));

  auto* create = app.add_subcommand("create", "Store a new flow from a JSON file or standard input");
  write_args create_a;
  create->add_option("FILE", create_a.file, "flow document, or - for standard input")->required();
  create->add_flag("--draft", create_a.draft, "store the flow even if it fails validation, as the flow builder saves drafts");
  create->footer(footer("  flowstore create my-flow.json\n  cat my-flow.json | flowstore create -"));

  auto* update = app.add_subcommand(
      "update", "Replace a flow from a JSON file or standard input, if its version is still the stored one");
  write_args update_a;
  update->add_option("FILE", update_a.file, "flow document (its \"version\" is the one it was edited from), or -")
      ->required();
  update->add_flag("--draft", update_a.draft, "store the flow even if it fails validation, as the flow builder saves drafts");
  update->footer(
      footer("  flowstore get my-flow > f.json && $EDITOR f.json && flowstore update f.json\n"
             "  (exit 2 with \"conflict: expected version 3, current version 4\" when somebody else wrote first)"));

  auto* del = app.add_subcommand("delete", "Remove a flow");
  delete_args delete_a;
  del->add_option("ID", delete_a.id, "flow id")->required();
  del->add_option("--expect-version", delete_a.expect_version_text, "remove only if the stored version is N")
      ->type_name("N")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return parse_version(text) ? std::string() : "not a version (a whole number of at most 64 bits)";
          },
          ""));
  del->footer(footer("  flowstore delete my-flow\n  flowstore delete my-flow --expect-version 3"));

  auto* history = app.add_subcommand("history", "List a flow's retained revisions: operation, version, time");
  history_args history_a;
  history->add_option("ID", history_a.id, "flow id")->required();
  history->add_flag("--json", history_a.json, "print a JSON array (with each revision's document)");
  history->footer(footer("  flowstore history my-flow"));

  auto* watch =
      app.add_subcommand("watch", "Print changes as they happen, one JSON object per line (NDJSON), until Ctrl-C");
  watch_args watch_a;
  watch->add_option("PATTERN", watch_a.pattern, "flow id or KV pattern (team.*, team.>)")->capture_default_str();
  watch->add_flag("--updates-only", watch_a.updates_only, "skip the current values; print only changes from now on");
  watch->footer(footer(
      "  flowstore watch\n"
      "  flowstore watch 'team.*' --updates-only | jq -r .id\n"
      "Lines: {\"event\":\"put\",\"id\":...,\"revision\":N,\"time\":...,\"flow\":{...}}, {\"event\":\"deleted\",...},\n"
      "{\"event\":\"purged\",...}, and once {\"event\":\"initial_values_done\"} after the current values.\n"
      "Ctrl-C or SIGTERM ends the watch with exit 0."));

  auto* exp = app.add_subcommand("export", "Write every flow to DIR/<id>.json (created when missing)");
  export_args export_a;
  exp->add_option("DIR", export_a.dir, "target directory")->required();
  exp->footer(
      footer("  flowstore export backup/\n"
             "A '/' in an id is written as %2F in the file name (and '%' as %25)."));

  auto* imp = app.add_subcommand("import", "Create the flows of DIR/*.json that do not exist (many writes in flight)");
  import_args import_a;
  imp->add_option("DIR", import_a.dir, "directory of flow documents")->required();
  imp->add_flag("--update", import_a.update,
                "also update existing flows whose document differs, if the file's version is the stored one");
  imp->add_flag("--force", import_a.force, "like --update, but overwrite existing flows whatever their version");
  imp->add_option("--concurrency", import_a.concurrency, "writes in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  imp->footer(
      footer("  flowstore import backup/\n"
             "  flowstore import backup/ --update\n"
             "Created flows get version 1 and new audit times (the store sets them); the id comes\n"
             "from each document, not from the file name. A summary ends the run."));

  auto* from_config =
      app.add_subcommand("from-config", "Store the flow built from a component configuration file; print its id");
  from_config_args from_config_a;
  from_config->add_option("FILE", from_config_a.file, "configuration file, or - for standard input")->required();
  from_config->add_option("--name", from_config_a.name, "flow name (default: the file name without extension)");
  from_config->footer(
      footer("  flowstore from-config semstreams.json --name 'Edge pipeline'\n"
             "The file is a JSON object with a \"components\" member:\n"
             "  {\"components\": {\"udp-in\": {\"type\": \"input\", \"name\": \"udp\", \"enabled\": true,\n"
             "                               \"config\": {\"port\": 5000}}}}\n"
             "One node per enabled component (\"enabled\" defaults to true), laid out in a grid."));

  auto* validate = app.add_subcommand("validate", "Check a flow document offline and print every problem");
  validate_args validate_a;
  validate->add_option("FILE", validate_a.file, "flow document, or - for standard input")->required();
  validate->footer(
      footer("  flowstore validate my-flow.json\n"
             "No server is needed. A missing runtime_state is accepted, as create stores it\n"
             "as not_deployed. Exit 0 when valid, 2 when not."));

  for (CLI::App* cmd : {list, get, create, update, del, history, watch, exp, imp, from_config}) {
    add_connection_options(cmd, after_command, false);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto secrets = secrets_of(before_command.settings);
    for (auto& secret : secrets_of(after_command.settings)) secrets.push_back(std::move(secret));
    return answer_parse_error(app, e, std::move(secrets));
  }

  CLI::App* command = app.get_subcommands().front();
  connection_flags flags = before_command;
  if (command != validate) flags = merge(command, after_command, before_command);
  server_settings& settings = flags.settings;
  set_secrets(secrets_of(settings));
  settings.timeout = *parse_duration(flags.timeout);
  if (command != validate) {
    if (auto problem = inconsistency(settings); !problem.empty()) return report(problem, exit_usage);
  }
  if (!delete_a.expect_version_text.empty()) delete_a.expect_version = parse_version(delete_a.expect_version_text);

  auto dispatch = [&]() -> int {
    if (*list) return run_list(settings, list_a);
    if (*get) return run_get(settings, get_a);
    if (*create) return run_create(settings, create_a);
    if (*update) return run_update(settings, update_a);
    if (*del) return run_delete(settings, delete_a);
    if (*history) return run_history(settings, history_a);
    if (*watch) return run_watch(settings, watch_a);
    if (*exp) return run_export(settings, export_a);
    if (*imp) {
      import_a.update = import_a.update || import_a.force;
      return run_import(settings, import_a);
    }
    if (*from_config) return run_from_config(settings, from_config_a);
    if (*validate) return run_validate(validate_a);
    return exit_usage;
  };
  return dispatch();
}
