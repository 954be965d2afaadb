// rcache — umbrella header.
#pragma once

#include "rcache/client.hpp"
#include "rcache/config.hpp"
#include "rcache/error.hpp"
#include "rcache/log.hpp"
#include "rcache/pubsub.hpp"
#include "rcache/reply.hpp"
#include "rcache/resilience.hpp"
#include "rcache/stats.hpp"
#include "rcache/stored_value.hpp"
#include "rcache/version.hpp"
