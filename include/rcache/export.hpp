// rcache — symbol visibility: the shared library exports exactly what carries RCACHE_API.
//
// The library is built with hidden visibility; only the public API is marked. Internals
// (namespace rcache::detail, everything under lib/) never appear in the dynamic symbol table.
#pragma once

#if defined(RCACHE_STATIC)
#define RCACHE_API
#elif defined(__GNUC__) || defined(__clang__)
#define RCACHE_API __attribute__((visibility("default")))
#else
#define RCACHE_API
#endif
