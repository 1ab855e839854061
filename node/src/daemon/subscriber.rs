//! A feed subscriber running (the police): the follower of its feed and, when asked, its page
//! (公安视图), started once the same way by `yl-hub subscribe` and the demo, and stopped by one
//! call that ends both and checkpoints the store.

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yinglian_proto::v1::FeedEvent;

use super::running::{WebAddr, WebConfig};
use crate::federation::subscriber::{Ended, FeedState, Follow, follow};
use crate::store::Store;

/// What a subscriber runs.
#[derive(Debug, Default)]
pub struct SubscriberConfig {
    pub follow: Follow,
    /// The police page.
    pub web: Option<WebConfig>,
}

/// A running subscriber.
pub struct Subscriber {
    pub store: Arc<Store>,
    /// Where its page is served.
    pub web: Option<WebAddr>,
    /// What the follower knows now.
    pub state: watch::Receiver<FeedState>,
    stop: watch::Sender<bool>,
    follower: Option<JoinHandle<Result<Ended>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Subscriber {
    /// Starts following (and the page, if asked). `on_event` sees every event as it arrives.
    pub async fn start(
        store: Arc<Store>,
        config: SubscriberConfig,
        on_event: impl FnMut(&FeedEvent) + Send + 'static,
    ) -> Result<Subscriber> {
        if store.meta("parent_unit").await?.is_none() {
            anyhow::bail!("本单位还没有加入上级：请先运行 join --bundle 登记包文件");
        }
        let (stop, _) = watch::channel(false);
        let (state_tx, state) = watch::channel(FeedState::default());
        let mut me = Subscriber {
            store: store.clone(),
            web: None,
            state,
            stop,
            follower: None,
            tasks: Vec::new(),
        };
        if let Some(web) = config.web {
            let tls = match &web.https {
                Some((cert, key)) => Some(crate::http::https::server_config(cert, key)?),
                None => None,
            };
            let listener = web.at.listener("（公安视图）").await?;
            me.web = Some(WebAddr {
                addr: listener.local_addr()?,
                https: tls.is_some(),
            });
            let watching = crate::http::Watching {
                scope: config.follow.scope.clone(),
                state: me.state.clone(),
            };
            let (st, s, proxies) = (store.clone(), me.stop.subscribe(), web.trusted_proxies);
            me.tasks.push(tokio::spawn(async move {
                if let Err(err) =
                    crate::http::serve_police(st, watching, listener, tls, proxies, s).await
                {
                    tracing::error!(error = %err, "the police page stopped");
                }
            }));
        }
        me.follower = Some(tokio::spawn(follow(
            store,
            config.follow,
            state_tx,
            on_event,
            me.stop.subscribe(),
        )));
        Ok(me)
    }

    /// Waits until following ends by itself: the hub refused the subscription (`Ended::Refused`;
    /// the page, if any, goes on saying so until `stop`), or it could not go on (an error). Never
    /// returns while following goes on.
    pub async fn ended(&mut self) -> Result<Ended> {
        let Some(f) = self.follower.as_mut() else {
            return std::future::pending().await;
        };
        let r = f.await;
        self.follower = None;
        r?
    }

    /// Stops following and the page, waits for them, and checkpoints the store.
    pub async fn stop(mut self) -> Result<()> {
        self.stop.send_replace(true);
        if let Some(f) = self.follower.take() {
            let _ = f.await;
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        self.store.checkpoint().await?;
        Ok(())
    }
}
