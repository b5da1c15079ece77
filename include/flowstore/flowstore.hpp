// The whole public API of flowstore in one include: connections, the store and its watches, the
// flow model and its JSON, errors, the component catalog and the flow engine.
#pragma once

#include <flowstore/catalog.hpp>
#include <flowstore/connection.hpp>
#include <flowstore/convert.hpp>
#include <flowstore/engine.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/timestamp.hpp>
#include <flowstore/version.hpp>
#include <flowstore/watch.hpp>
