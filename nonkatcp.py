import time
from katcp_sync import BlockingClient, Message
t=time.time()
with BlockingClient("localhost", 5040) as c:
    print("protocol:", c.wait_protocol(5), c.protocol_flags, round(time.time()-t,2))
    try: print(c.blocking_request(Message.request("help")))
    except Exception as e: print(type(e).__name__, e, round(time.time()-t,2))
