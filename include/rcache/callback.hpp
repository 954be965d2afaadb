// rcache — the callback type of every async call.
//
// The rule, for every async call of rcache (refusals and argument errors included): the callback
// runs exactly once, on the client's loop thread, never on the calling thread before the call
// returns. The one exception is shutdown: while the Client is being destroyed, a callback may run
// on the destroying thread with Errc::shutdown. The callback owns its argument; it must not block
// (nor wait on a std::future of the same client: that result is delivered on this very thread);
// it may destroy the Client (the shutdown then finishes on a background thread); an exception it
// throws is caught and discarded.
//
// Thread safety: a plain alias.
#pragma once

#include <functional>

#include "rcache/error.hpp"

namespace rcache {

template <class T>
using Callback = std::function<void(Result<T>)>;

}  // namespace rcache
