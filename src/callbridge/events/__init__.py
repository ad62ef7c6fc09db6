"""Screen-pop: call events per account, in a durable journal, streamed live (WebSocket/SSE)."""
