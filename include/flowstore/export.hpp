// FLOWSTORE_DECL marks what the library exports. flowstore is compiled with hidden visibility,
// so a shared libflowstore exports its public API and nothing of its implementation.
#pragma once

// FLOWSTORE_HIDDEN keeps a member of an exported class inside the library (the constructors
// that take the implementation, reached only through the library's own access struct).
#if defined(__GNUC__) || defined(__clang__)
#define FLOWSTORE_DECL __attribute__((visibility("default")))
#define FLOWSTORE_HIDDEN __attribute__((visibility("hidden")))
#else
#define FLOWSTORE_DECL
#define FLOWSTORE_HIDDEN
#endif
