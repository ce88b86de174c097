#ifndef HL7_TESTS_NATS_TEST_SUPPORT_HPP
#define HL7_TESTS_NATS_TEST_SUPPORT_HPP

// Helpers for the JetStream store tests: messages from given senders,
// opening a store on a test cluster, and a plain nats.c connection of the
// test's own (another client's view of the streams).

#include <hl7/model/message.hpp>
#include <hl7/parser/parse.hpp>
#include <hl7/store/jetstream.hpp>

#include "mllp_net_helpers.hpp"
#include "store_test_messages.hpp"
#include "nats_cluster.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace hl7_nats_test {

using namespace std::chrono_literals;
using hl7_test::message_text;
using hl7_test::meta_of;
using hl7_test::run;
using hl7_test::store_error_of;

/// Settings for tests: short timeouts, so failures show within seconds.
inline hl7::store::jetstream_options
test_options(int replicas = 3)
{
    hl7::store::jetstream_options o;
    o.replicas = replicas;
    o.put_timeout = 5s;
    o.request_timeout = 5s;
    o.reconnect_wait = 100ms;
    o.ping_interval = 2s;
    o.ack_wait = 30s;
    return o;
}

inline std::shared_ptr<hl7::store::jetstream_store>
open_store(asio::io_context& ctx, std::string const& servers, hl7::store::jetstream_options options)
{
    return run(ctx, [&]() -> asio::awaitable<std::shared_ptr<hl7::store::jetstream_store>> {
        co_return co_await hl7::store::open_jetstream_store(servers, options);
    });
}

inline void
close_store(asio::io_context& ctx, std::shared_ptr<hl7::store::jetstream_store> const& store)
{
    run(ctx, [&]() -> asio::awaitable<void> { co_await store->close(); });
}

/** A plain nats.c connection of the test's own: reads stream messages by
    sequence and stream info, as another client would. Used on the test's
    thread only. */
class raw_client
{
public:
    explicit raw_client(std::string const& servers)
    {
        // ConnectTo splits a comma-separated list (SetURL takes one URL).
        natsStatus s = natsConnection_ConnectTo(&nc_, servers.c_str());
        if (s != NATS_OK)
            throw std::runtime_error(std::string("raw_client: connect: ") + natsStatus_GetText(s));
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = 5000;
        s = natsConnection_JetStream(&js_, nc_, &jo);
        if (s != NATS_OK)
            throw std::runtime_error("raw_client: JetStream context");
    }
    raw_client(raw_client const&) = delete;
    raw_client& operator=(raw_client const&) = delete;
    ~raw_client()
    {
        jsCtx_Destroy(js_);
        natsConnection_Destroy(nc_);
    }

    struct message
    {
        std::string subject;
        std::string data;
        natsMsg* raw = nullptr;

        std::optional<std::string>
        header(char const* key) const
        {
            char const* v = nullptr;
            if (natsMsgHeader_Get(raw, key, &v) == NATS_OK && v)
                return std::string(v);
            return std::nullopt;
        }
    };

    /// The stored message `seq` of `stream`, or nullopt if there is none.
    std::optional<message>
    get(std::string const& stream, std::uint64_t seq)
    {
        natsMsg* m = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus const s = js_GetMsg(&m, js_, stream.c_str(), seq, nullptr, &jerr);
        if (s != NATS_OK)
            return std::nullopt;
        held_.emplace_back(m, &natsMsg_Destroy);
        message r;
        r.subject = natsMsg_GetSubject(m);
        r.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
        r.raw = m;
        return r;
    }

    /// The stream's state (messages, first and last sequence).
    jsStreamState
    state(std::string const& stream)
    {
        jsStreamInfo* si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus const s = js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &jerr);
        if (s != NATS_OK)
            throw std::runtime_error("raw_client: stream info " + stream + ": " + natsStatus_GetText(s));
        jsStreamState st = si->State;
        st.Subjects = nullptr;
        st.Deleted = nullptr;
        st.Lost = nullptr;
        jsStreamInfo_Destroy(si);
        return st;
    }

    /// The name of the server that leads `stream` (`n1`...), empty if none.
    std::string
    stream_leader(std::string const& stream)
    {
        jsStreamInfo* si = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        if (js_GetStreamInfo(&si, js_, stream.c_str(), nullptr, &jerr) != NATS_OK)
            return {};
        std::string leader = si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "";
        jsStreamInfo_Destroy(si);
        return leader;
    }

    /// The name of the server that leads `consumer`, empty if none.
    std::string
    consumer_leader(std::string const& stream, std::string const& consumer)
    {
        jsConsumerInfo* ci = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        if (js_GetConsumerInfo(&ci, js_, stream.c_str(), consumer.c_str(), nullptr, &jerr) != NATS_OK)
            return {};
        std::string leader = ci->Cluster && ci->Cluster->Leader ? ci->Cluster->Leader : "";
        jsConsumerInfo_Destroy(ci);
        return leader;
    }

private:
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    std::vector<std::unique_ptr<natsMsg, void (*)(natsMsg*)>> held_;
};

} // namespace hl7_nats_test

#endif
