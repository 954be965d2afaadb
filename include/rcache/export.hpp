// rcache — symbol visibility: the shared library exports exactly what carries RCACHE_API.
//
// The library is built with hidden visibility; only the public API is marked. Internals
// (namespace rcache::detail, everything under lib/) never appear in the dynamic symbol table.
#pragma once

// RCACHE_LOCAL keeps a member of an exported class out of the table (internal constructors).
#if defined(RCACHE_STATIC)
#define RCACHE_API
#define RCACHE_LOCAL
#elif defined(__GNUC__) || defined(__clang__)
#define RCACHE_API __attribute__((visibility("default")))
#define RCACHE_LOCAL __attribute__((visibility("hidden")))
#else
#define RCACHE_API
#define RCACHE_LOCAL
#endif
