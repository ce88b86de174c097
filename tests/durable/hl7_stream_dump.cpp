// hl7_stream_dump: prints every message of a JetStream stream as
// "SEQUENCE TAB Nats-Msg-Id", oldest first, for the scale-out kill test to
// check what the stream holds (Debian has no `nats` tool). Reads through an
// ordered, headers-only consumer of its own, so the forwarders' durable
// consumer is not touched.
//
//   hl7_stream_dump URLS STREAM SUBJECTS
//
// Exit codes: 0 done, 1 the cluster could not be read, 2 usage error.

#include <nats/nats.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

int
fail(char const* what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0))
{
    std::fprintf(stderr, "hl7_stream_dump: %s: %s (JetStream error %d)\n", what, natsStatus_GetText(s),
                 static_cast<int>(jerr));
    return 1;
}

int
dump(natsConnection* nc, char const* stream, char const* subjects)
{
    jsCtx* js = nullptr;
    natsStatus s = natsConnection_JetStream(&js, nc, nullptr);
    if (s != NATS_OK)
        return fail("JetStream context", s);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.HeadersOnly = true;
    natsSubscription* sub = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    s = js_SubscribeSync(&sub, js, subjects, nullptr, &so, &jerr);
    int rc = 0;
    if (s != NATS_OK) {
        rc = fail("subscribing", s, jerr);
    }
    else {
        std::uint64_t count = 0;
        for (;;) {
            natsMsg* msg = nullptr;
            // An empty stream delivers nothing: 5 s of silence means "done".
            s = natsSubscription_NextMsg(&msg, sub, 5000);
            if (s == NATS_TIMEOUT && count == 0)
                break;
            if (s != NATS_OK) {
                rc = fail("reading", s);
                break;
            }
            jsMsgMetaData* meta = nullptr;
            if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
                natsMsg_Destroy(msg);
                rc = fail("message metadata", s);
                break;
            }
            char const* id = nullptr;
            if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK)
                id = "";
            std::printf("%llu\t%s\n", static_cast<unsigned long long>(meta->Sequence.Stream), id);
            ++count;
            bool const last = meta->NumPending == 0;
            jsMsgMetaData_Destroy(meta);
            natsMsg_Destroy(msg);
            if (last)
                break;
        }
        natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    return rc;
}

} // namespace

int
main(int argc, char** argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: hl7_stream_dump URLS STREAM SUBJECTS\n");
        return 2;
    }
    natsConnection* nc = nullptr;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    int rc = s == NATS_OK ? dump(nc, argv[2], argv[3]) : fail("connecting", s);
    natsConnection_Destroy(nc);
    nats_Close();
    std::fflush(stdout);
    return rc;
}
