// One reply parsed by hiredis from RESP bytes, for unit tests of reply handling.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "protocol/resp.hpp"

namespace rcache::test {

inline detail::ReplyPtr parse_reply(std::string_view bytes) {
  redisReader* reader = detail::create_reader();
  EXPECT_EQ(redisReaderFeed(reader, bytes.data(), bytes.size()), REDIS_OK);
  void* p = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader, &p), REDIS_OK);
  redisReaderFree(reader);
  EXPECT_NE(p, nullptr) << bytes;
  return detail::ReplyPtr(static_cast<redisReply*>(p));
}

}  // namespace rcache::test
