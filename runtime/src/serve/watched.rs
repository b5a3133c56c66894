//! The connection's socket, watched for the first byte of each request head.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::table::{Conn, Table, IDLE};

/// The connection's socket, noting when the bytes of a request head begin to arrive.
pub(super) struct Watched {
    pub(super) stream: tokio::net::TcpStream,
    pub(super) conn: Arc<Conn>,
    pub(super) table: Arc<Table>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        let conn = &this.conn;
        if buf.filled().len() > before
            && conn.state.load(Ordering::Relaxed) == IDLE
            && conn.head_ms.load(Ordering::Relaxed) == 0
        {
            conn.head_ms.store(this.table.now_ms().max(1), Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
