// RESP bytes read back by hiredis, for unit tests of reply handling and command builders.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

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

// The words of every command in `wire` (a command builder's output read back as RESP).
inline std::vector<std::vector<std::string>> commands_in(const std::string& wire) {
  redisReader* reader = detail::create_reader();
  EXPECT_EQ(redisReaderFeed(reader, wire.data(), wire.size()), REDIS_OK);
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < 100000; ++i) {  // bounded: a wire of this many commands is a test bug
    void* p = nullptr;
    EXPECT_EQ(redisReaderGetReply(reader, &p), REDIS_OK);
    if (p == nullptr) break;
    detail::ReplyPtr r(static_cast<redisReply*>(p));
    std::vector<std::string> words;
    for (std::size_t j = 0; j < r->elements; ++j) {
      words.emplace_back(r->element[j]->str, r->element[j]->len);
    }
    out.push_back(std::move(words));
  }
  redisReaderFree(reader);
  return out;
}

}  // namespace rcache::test
