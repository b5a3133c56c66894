//! A batch the partition writer has sent and not yet answered, and answering
//! requests. See [`crate::writer`].

use std::collections::VecDeque;
use std::time::Instant;

use events::Commit;

use crate::error::Refusal;
use crate::plan::{Decision, Outcome, Reply, Request};
use crate::send::{Deliveries, DeliveryFailure};

/// A batch sent and not yet answered.
pub struct InFlight {
    pub requests: Vec<Request>,
    pub decisions: Vec<Decision>,
    pub commits: Vec<Commit>,
    pub deliveries: Deliveries,
    pub sent: Instant,
}

impl InFlight {
    /// Answers the requests; `outcomes[i]` is the fate of `commits[i]`. With
    /// `view_proven` false, refusals are not answered but handed back, to be
    /// decided again on proven state.
    pub fn answer(self, outcomes: Vec<Outcome>, view_proven: bool) -> Vec<Request> {
        let mut again = Vec::new();
        for (request, decision) in self.requests.into_iter().zip(self.decisions) {
            let outcome = match decision {
                Decision::Answer(outcome) => outcome,
                Decision::Refuse(refusal) if view_proven => Err(refusal),
                Decision::Refuse(_) => {
                    again.push(request);
                    continue;
                }
                Decision::Send(i) => outcomes[i].clone(),
                Decision::Join(i) => outcomes[i].clone().map(|r| Reply { replayed: true, ..r }),
            };
            let _ = request.reply.send(outcome);
        }
        again
    }
}

/// The delivery reports of the oldest batch in flight. Only polled when there is one.
pub async fn oldest(in_flight: &mut VecDeque<InFlight>) -> Vec<Result<i64, DeliveryFailure>> {
    let flight = in_flight.front_mut().expect("polled only with a batch in flight");
    (&mut flight.deliveries).await
}

pub fn answer_all(batch: Vec<Request>, refusal: Refusal) {
    for request in batch {
        let _ = request.reply.send(Err(refusal.clone()));
    }
}
