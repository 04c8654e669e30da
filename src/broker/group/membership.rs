//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: group membership and
//! rebalances as Kafka's classic coordinator runs them.

use super::coordinator::{ClientInfo, GroupCoordinator, Inner, group_record};
use super::state::{Group, GroupState, JoinOutcome, Member, SyncOutcome};
use super::store::Durable;
use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use tokio::sync::oneshot;

/// How a handler's answer arrives: now, later from a rebalance, or once a
/// record is durable.
enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
    AfterStore(Durable, T),
}

/// The leader's SyncGroup: the assignment record must be durable before
/// anyone gets an assignment.
struct LeaderSync {
    durable: Durable,
    group_id: String,
    generation: i32,
    waiters: Vec<(oneshot::Sender<SyncOutcome>, Bytes)>,
    own: oneshot::Receiver<SyncOutcome>,
}

impl<T> Reply<T> {
    /// The answer, or `unavailable` if the rebalance was abandoned or the
    /// record could not be stored.
    async fn resolve(self, unavailable: T) -> T {
        match self {
            Reply::Now(v) => v,
            Reply::Wait(rx) => rx.await.unwrap_or(unavailable),
            Reply::AfterStore(durable, v) => match durable.await {
                Ok(()) => v,
                Err(e) => {
                    tracing::error!("{e}");
                    unavailable
                }
            },
        }
    }
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl GroupCoordinator {
    /// JoinGroup (v0–v9). Waits until the join phase of the rebalance ends
    /// (all known members rejoined, or the rebalance timeout / initial
    /// delay passed), then answers with the generation; the leader gets
    /// the member list. `client` gives the member's client id and host.
    pub async fn join_group(
        &self,
        req: JoinGroupRequest,
        version: i16,
        client: &ClientInfo,
    ) -> JoinGroupResponse {
        let unavailable =
            JoinOutcome::error(code(ResponseError::CoordinatorNotAvailable), &req.member_id);
        let outcome = self
            .inner
            .join(&req, version, client)
            .resolve(unavailable)
            .await;
        join_response(outcome, version)
    }

    /// SyncGroup (v0–v5). The leader's request carries the assignments;
    /// every member of the generation gets its own once the leader's
    /// arrives and is stored. Followers wait for it.
    pub async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let (protocol_type, protocol_name) = self.inner.protocol_of(req.group_id.as_str());
        let unavailable = Err(code(ResponseError::CoordinatorNotAvailable));
        let outcome = match self.inner.sync(&req, version) {
            Ok(reply) => reply.resolve(unavailable).await,
            Err(leader) => self.inner.finish_leader_sync(leader).await,
        };
        let mut resp = SyncGroupResponse::default();
        match outcome {
            Ok(assignment) => {
                resp.assignment = assignment;
                if version >= 5 {
                    resp.protocol_type = protocol_type.map(|s| str_bytes(&s));
                    resp.protocol_name = protocol_name.map(|s| str_bytes(&s));
                }
            }
            Err(e) => resp.error_code = e,
        }
        resp
    }

    /// Heartbeat (v0–v4): keeps the member's session alive;
    /// REBALANCE_IN_PROGRESS tells it to rejoin.
    pub async fn heartbeat(&self, req: HeartbeatRequest, version: i16) -> HeartbeatResponse {
        let _ = version;
        HeartbeatResponse::default().with_error_code(self.inner.heartbeat(&req))
    }

    /// LeaveGroup (v0–v5, batched members from v3): removes members and
    /// rebalances the rest.
    pub async fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<(String, Option<String>)> = if version >= 3 {
            req.members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|s| s.to_string()),
                    )
                })
                .collect()
        } else {
            vec![(req.member_id.to_string(), None)]
        };
        let (top, results) = self.inner.leave(req.group_id.as_str(), &leaving);
        let mut resp = LeaveGroupResponse::default();
        if version >= 3 {
            resp.error_code = top;
            resp.members = leaving
                .iter()
                .zip(results)
                .map(|((member_id, instance), error)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(member_id))
                        .with_group_instance_id(instance.as_deref().map(str_bytes))
                        .with_error_code(error)
                })
                .collect();
        } else {
            resp.error_code = if top != 0 {
                top
            } else {
                results.first().copied().unwrap_or(0)
            };
        }
        resp
    }
}

fn join_response(o: JoinOutcome, version: i16) -> JoinGroupResponse {
    let mut resp = JoinGroupResponse::default()
        .with_error_code(o.error)
        .with_generation_id(o.generation)
        .with_leader(str_bytes(&o.leader))
        .with_member_id(str_bytes(&o.member_id))
        .with_skip_assignment(version >= 9 && o.skip_assignment);
    resp.protocol_name = match o.protocol {
        Some(p) => Some(str_bytes(&p)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    if version >= 7 {
        resp.protocol_type = o.protocol_type.map(|p| str_bytes(&p));
    }
    resp.members = o
        .members
        .into_iter()
        .map(|(id, instance, metadata)| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&id))
                .with_group_instance_id(if version >= 5 {
                    instance.map(|i| str_bytes(&i))
                } else {
                    None
                })
                .with_metadata(metadata)
        })
        .collect();
    resp
}

impl Inner {
    /// The group's protocol type and protocol name (for SyncGroup v5).
    fn protocol_of(&self, group_id: &str) -> (Option<String>, Option<String>) {
        let groups = self.lock();
        groups
            .get(group_id)
            .map(|g| (g.protocol_type.clone(), g.protocol.clone()))
            .unwrap_or_default()
    }

    fn join(
        self: &Arc<Self>,
        req: &JoinGroupRequest,
        version: i16,
        client: &ClientInfo,
    ) -> Reply<JoinOutcome> {
        let member_id = req.member_id.to_string();
        let err = |e: ResponseError| Reply::Now(JoinOutcome::error(e.code(), &member_id));
        let group_id = req.group_id.as_str();
        if group_id.is_empty() {
            return err(ResponseError::InvalidGroupId);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return err(ResponseError::InvalidSessionTimeout);
        }
        let protocol_type = req.protocol_type.to_string();
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect();
        if protocol_type.is_empty() || protocols.is_empty() {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        let rebalance_timeout_ms = if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let instance_id = if version >= 5 {
            req.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        };
        let mut groups = self.lock();
        if !groups.contains_key(group_id) {
            if !member_id.is_empty() {
                return err(ResponseError::UnknownMemberId);
            }
            groups.insert(
                group_id.to_string(),
                Group::new(group_id, super::coordinator::now_ms()),
            );
        }
        let Some(group) = groups.get_mut(group_id) else {
            return err(ResponseError::CoordinatorNotAvailable);
        };
        if group.is(GroupState::Dead) {
            return err(ResponseError::CoordinatorNotAvailable);
        }
        let join = Join {
            client,
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type,
            protocols,
            instance_id,
        };
        if member_id.is_empty() {
            self.join_new_member(group, join, version)
        } else {
            self.join_known_member(group, &member_id, join)
        }
    }

    /// A member without a member id: give it one (MEMBER_ID_REQUIRED for v4+
    /// dynamic members), or replace the static member with its instance id.
    fn join_new_member(
        self: &Arc<Self>,
        group: &mut Group,
        join: Join<'_>,
        version: i16,
    ) -> Reply<JoinOutcome> {
        let known_static = join
            .instance_id
            .as_ref()
            .and_then(|i| group.static_members.get(i))
            .cloned();
        if known_static.is_none()
            && group.members.len() + group.pending_members.len() >= self.config.max_size
        {
            return Reply::Now(JoinOutcome::error(
                code(ResponseError::GroupMaxSizeReached),
                "",
            ));
        }
        if !group.is(GroupState::Empty) && !group.supports(&join.protocol_type, &join.protocols) {
            return Reply::Now(JoinOutcome::error(
                code(ResponseError::InconsistentGroupProtocol),
                "",
            ));
        }
        let prefix = join
            .instance_id
            .as_deref()
            .unwrap_or(&join.client.client_id);
        let new_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(old_id) = known_static {
            return self.replace_static_member(group, &old_id, &new_id, join);
        }
        if join.instance_id.is_none() && version >= 4 {
            group.pending_members.insert(new_id.clone());
            self.schedule_pending_member(&group.id, &new_id, join.session_timeout_ms);
            return Reply::Now(JoinOutcome::error(
                code(ResponseError::MemberIdRequired),
                &new_id,
            ));
        }
        self.add_member_and_rebalance(group, &new_id, join)
    }

    fn join_known_member(
        self: &Arc<Self>,
        group: &mut Group,
        member_id: &str,
        join: Join<'_>,
    ) -> Reply<JoinOutcome> {
        let err = |e: ResponseError| Reply::Now(JoinOutcome::error(e.code(), member_id));
        if group.pending_members.remove(member_id) {
            if !group.is(GroupState::Empty) && !group.supports(&join.protocol_type, &join.protocols)
            {
                return err(ResponseError::InconsistentGroupProtocol);
            }
            return self.add_member_and_rebalance(group, member_id, join);
        }
        if let Some(instance) = join.instance_id.as_deref() {
            match group.static_members.get(instance) {
                None => return err(ResponseError::UnknownMemberId),
                Some(owner) if owner != member_id => return err(ResponseError::FencedInstanceId),
                Some(_) => {}
            }
        }
        if !group.members.contains_key(member_id) {
            return err(ResponseError::UnknownMemberId);
        }
        if !group.supports(&join.protocol_type, &join.protocols) {
            return err(ResponseError::InconsistentGroupProtocol);
        }
        let unchanged = group
            .members
            .get(member_id)
            .is_some_and(|m| m.protocols == join.protocols);
        let is_leader = group.leader.as_deref() == Some(member_id);
        match group.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(group, member_id, join)
            }
            GroupState::CompletingRebalance if unchanged => {
                // A retried JoinGroup: resend this generation's answer.
                Reply::Now(current_generation_outcome(group, member_id))
            }
            GroupState::Stable if unchanged && !is_leader => {
                if let Some(m) = group.members.get_mut(member_id) {
                    m.touch();
                }
                Reply::Now(current_generation_outcome(group, member_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(group, member_id, join)
            }
            GroupState::Empty | GroupState::Dead => err(ResponseError::UnknownMemberId),
        }
    }

    fn add_member_and_rebalance(
        self: &Arc<Self>,
        group: &mut Group,
        member_id: &str,
        join: Join<'_>,
    ) -> Reply<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        let uid = self.next_uid();
        if group.members.is_empty() {
            group.protocol_type = Some(join.protocol_type.clone());
        }
        if let Some(instance) = &join.instance_id {
            group
                .static_members
                .insert(instance.clone(), member_id.to_string());
        }
        let mut member = Member {
            id: member_id.to_string(),
            instance_id: join.instance_id,
            client_id: join.client.client_id.clone(),
            client_host: join.client.client_host.clone(),
            session_timeout_ms: join.session_timeout_ms,
            rebalance_timeout_ms: join.rebalance_timeout_ms,
            protocols: join.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(tx),
            sync_waiter: None,
            session_deadline: tokio::time::Instant::now(),
            uid,
        };
        member.touch();
        group.members.insert(member_id.to_string(), member);
        if group.leader.is_none() {
            group.leader = Some(member_id.to_string());
        }
        if group.is(GroupState::PreparingRebalance) && group.initial_delay_remaining.is_some() {
            group.new_member_added = true;
        }
        self.schedule_session(&group.id, member_id, uid);
        self.maybe_prepare_rebalance(group, "new member joined");
        self.try_complete_join(group);
        Reply::Wait(rx)
    }

    fn update_member_and_rebalance(
        self: &Arc<Self>,
        group: &mut Group,
        member_id: &str,
        join: Join<'_>,
    ) -> Reply<JoinOutcome> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = group.members.get_mut(member_id) {
            m.protocols = join.protocols;
            m.session_timeout_ms = join.session_timeout_ms;
            m.rebalance_timeout_ms = join.rebalance_timeout_ms;
            m.client_id = join.client.client_id.clone();
            m.client_host = join.client.client_host.clone();
            m.touch();
            if let Some(old) = m.join_waiter.replace(tx) {
                let _ = old.send(JoinOutcome::error(
                    code(ResponseError::RebalanceInProgress),
                    member_id,
                ));
            }
        }
        self.maybe_prepare_rebalance(group, "member rejoined with new metadata or as leader");
        self.try_complete_join(group);
        Reply::Wait(rx)
    }

    /// A static member rejoined without its member id: the new id replaces
    /// the old (whose pending requests get FENCED_INSTANCE_ID). In a Stable
    /// group with unchanged protocols no rebalance happens; the member gets
    /// the current generation back.
    fn replace_static_member(
        self: &Arc<Self>,
        group: &mut Group,
        old_id: &str,
        new_id: &str,
        join: Join<'_>,
    ) -> Reply<JoinOutcome> {
        let Some(mut member) = group.members.shift_remove(old_id) else {
            return Reply::Now(JoinOutcome::error(code(ResponseError::UnknownMemberId), ""));
        };
        let fenced = code(ResponseError::FencedInstanceId);
        if let Some(w) = member.join_waiter.take() {
            let _ = w.send(JoinOutcome::error(fenced, old_id));
        }
        if let Some(w) = member.sync_waiter.take() {
            let _ = w.send(Err(fenced));
        }
        let unchanged = member.protocols == join.protocols;
        let old = (
            member.protocols.clone(),
            member.session_timeout_ms,
            member.rebalance_timeout_ms,
        );
        member.id = new_id.to_string();
        member.uid = self.next_uid();
        member.protocols = join.protocols.clone();
        member.session_timeout_ms = join.session_timeout_ms;
        member.rebalance_timeout_ms = join.rebalance_timeout_ms;
        member.client_id = join.client.client_id.clone();
        member.client_host = join.client.client_host.clone();
        member.touch();
        let uid = member.uid;
        group.members.insert(new_id.to_string(), member);
        if let Some(instance) = &join.instance_id {
            group
                .static_members
                .insert(instance.clone(), new_id.to_string());
        }
        let was_leader = group.leader.as_deref() == Some(old_id);
        if was_leader {
            group.leader = Some(new_id.to_string());
        }
        if group.pending_sync.remove(old_id) {
            group.pending_sync.insert(new_id.to_string());
        }
        self.schedule_session(&group.id, new_id, uid);
        match group.state {
            GroupState::Stable if unchanged && group.select_protocol() == group.protocol => {
                let record = group_record(group);
                let mut outcome = current_generation_outcome(group, new_id);
                outcome.skip_assignment = was_leader;
                match self.write(&group.id, &[record]) {
                    Ok(durable) => Reply::AfterStore(durable, outcome),
                    Err(e) => {
                        tracing::error!("group {}: {e}", group.id);
                        // Undo: the old member id stays in force.
                        if let Some(mut m) = group.members.shift_remove(new_id) {
                            m.id = old_id.to_string();
                            (m.protocols, m.session_timeout_ms, m.rebalance_timeout_ms) = old;
                            group.members.insert(old_id.to_string(), m);
                        }
                        if let Some(instance) = &join.instance_id {
                            group
                                .static_members
                                .insert(instance.clone(), old_id.to_string());
                        }
                        if was_leader {
                            group.leader = Some(old_id.to_string());
                        }
                        Reply::Now(JoinOutcome::error(
                            code(ResponseError::CoordinatorNotAvailable),
                            "",
                        ))
                    }
                }
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(new_id) {
                    m.join_waiter = Some(tx);
                }
                self.maybe_prepare_rebalance(group, "static member replaced");
                self.try_complete_join(group);
                Reply::Wait(rx)
            }
        }
    }

    /// SyncGroup under the lock. `Err` carries the leader's pending work.
    fn sync(
        self: &Arc<Self>,
        req: &SyncGroupRequest,
        version: i16,
    ) -> Result<Reply<SyncOutcome>, LeaderSync> {
        let now = |e: ResponseError| Ok(Reply::Now(Err(e.code())));
        let member_id = req.member_id.as_str();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(req.group_id.as_str()) else {
            return now(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return now(ResponseError::CoordinatorNotAvailable);
        }
        let instance = if version >= 3 {
            req.group_instance_id.as_deref()
        } else {
            None
        };
        if group.is_fenced(instance, member_id) {
            return now(ResponseError::FencedInstanceId);
        }
        if !group.members.contains_key(member_id) {
            return now(ResponseError::UnknownMemberId);
        }
        if req.generation_id != group.generation {
            return now(ResponseError::IllegalGeneration);
        }
        if version >= 5 {
            let type_mismatch = req
                .protocol_type
                .as_ref()
                .is_some_and(|t| group.protocol_type.as_deref() != Some(t.as_str()));
            let name_mismatch = req
                .protocol_name
                .as_ref()
                .is_some_and(|n| group.protocol.as_deref() != Some(n.as_str()));
            if type_mismatch || name_mismatch {
                return now(ResponseError::InconsistentGroupProtocol);
            }
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => now(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => now(ResponseError::RebalanceInProgress),
            GroupState::Stable => {
                group.pending_sync.remove(member_id);
                let Some(m) = group.members.get_mut(member_id) else {
                    return now(ResponseError::UnknownMemberId);
                };
                m.touch();
                Ok(Reply::Now(Ok(m.assignment.clone())))
            }
            GroupState::CompletingRebalance => {
                group.pending_sync.remove(member_id);
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.members.get_mut(member_id) {
                    m.touch();
                    if let Some(old) = m.sync_waiter.replace(tx) {
                        let _ = old.send(Err(code(ResponseError::RebalanceInProgress)));
                    }
                }
                if group.leader.as_deref() != Some(member_id) {
                    return Ok(Reply::Wait(rx));
                }
                for m in group.members.values_mut() {
                    m.assignment = req
                        .assignments
                        .iter()
                        .find(|a| a.member_id.as_str() == m.id)
                        .map(|a| a.assignment.clone())
                        .unwrap_or_default();
                }
                group.transition(GroupState::Stable, super::coordinator::now_ms());
                let record = group_record(group);
                match self.write(&group.id, &[record]) {
                    Ok(durable) => {
                        let waiters = group
                            .members
                            .values_mut()
                            .filter_map(|m| m.sync_waiter.take().map(|w| (w, m.assignment.clone())))
                            .collect();
                        Err(LeaderSync {
                            durable,
                            group_id: group.id.clone(),
                            generation: group.generation,
                            waiters,
                            own: rx,
                        })
                    }
                    Err(e) => {
                        tracing::error!("group {}: {e}", group.id);
                        group.state = GroupState::CompletingRebalance;
                        let c = code(ResponseError::CoordinatorNotAvailable);
                        for m in group.members.values_mut() {
                            m.assignment = Bytes::new();
                            if let Some(w) = m.sync_waiter.take() {
                                let _ = w.send(Err(c));
                            }
                        }
                        self.prepare_rebalance(group, "storing the assignment failed");
                        Ok(Reply::Wait(rx))
                    }
                }
            }
        }
    }

    /// Waits for the leader's assignment to be durable, then hands every
    /// waiting member its assignment (or the error, and rebalances).
    async fn finish_leader_sync(self: &Arc<Self>, leader: LeaderSync) -> SyncOutcome {
        match leader.durable.await {
            Ok(()) => {
                for (w, assignment) in leader.waiters {
                    let _ = w.send(Ok(assignment));
                }
            }
            Err(e) => {
                tracing::error!("group {}: assignment not persisted: {e}", leader.group_id);
                let c = code(ResponseError::CoordinatorNotAvailable);
                for (w, _) in leader.waiters {
                    let _ = w.send(Err(c));
                }
                let mut groups = self.lock();
                if let Some(group) = groups.get_mut(&leader.group_id)
                    && group.generation == leader.generation
                    && group.is(GroupState::Stable)
                {
                    self.prepare_rebalance(group, "storing the assignment failed");
                }
            }
        }
        leader
            .own
            .await
            .unwrap_or(Err(code(ResponseError::CoordinatorNotAvailable)))
    }

    fn heartbeat(self: &Arc<Self>, req: &HeartbeatRequest) -> i16 {
        let member_id = req.member_id.as_str();
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(req.group_id.as_str()) else {
            return code(ResponseError::UnknownMemberId);
        };
        if group.is(GroupState::Dead) {
            return code(ResponseError::CoordinatorNotAvailable);
        }
        if group.is_fenced(req.group_instance_id.as_deref(), member_id) {
            return code(ResponseError::FencedInstanceId);
        }
        let state = group.state;
        let generation = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        match state {
            GroupState::Empty | GroupState::Dead => code(ResponseError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                member.touch();
                code(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                if req.generation_id != generation {
                    return code(ResponseError::IllegalGeneration);
                }
                member.touch();
                0
            }
        }
    }

    /// Removes each `(member id, instance id)`; returns the group-level
    /// error and one error per member.
    fn leave(
        self: &Arc<Self>,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> (i16, Vec<i16>) {
        let unknown = code(ResponseError::UnknownMemberId);
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return (0, vec![unknown; leaving.len()]);
        };
        if group.is(GroupState::Dead) {
            return (
                code(ResponseError::CoordinatorNotAvailable),
                vec![0; leaving.len()],
            );
        }
        let mut results = Vec::with_capacity(leaving.len());
        for (member_id, instance) in leaving {
            let target = match instance {
                Some(i) => match group.static_members.get(i) {
                    None => None,
                    Some(owner) if !member_id.is_empty() && owner != member_id => {
                        results.push(code(ResponseError::FencedInstanceId));
                        continue;
                    }
                    Some(owner) => Some(owner.clone()),
                },
                None => Some(member_id.clone()),
            };
            match target {
                Some(id) if group.pending_members.remove(&id) => {
                    results.push(0);
                    self.try_complete_join(group);
                }
                Some(id) if group.members.contains_key(&id) => {
                    self.remove_member_and_rebalance(group, &id, unknown, "member left the group");
                    results.push(0);
                }
                _ => results.push(unknown),
            }
        }
        (0, results)
    }
}

/// What a JoinGroup of `member_id` gets without a rebalance: the current
/// generation (the leader also gets the member list).
fn current_generation_outcome(group: &Group, member_id: &str) -> JoinOutcome {
    let leader = group.leader.clone().unwrap_or_default();
    let protocol = group.protocol.clone().unwrap_or_default();
    let members = if leader == member_id {
        group
            .members
            .values()
            .map(|m| {
                (
                    m.id.clone(),
                    m.instance_id.clone(),
                    m.metadata(&protocol).cloned().unwrap_or_default(),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    JoinOutcome {
        error: 0,
        generation: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol: group.protocol.clone(),
        leader,
        member_id: member_id.to_string(),
        members,
        skip_assignment: false,
    }
}

/// The fields of a JoinGroup that describe the member.
struct Join<'a> {
    client: &'a ClientInfo,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    instance_id: Option<String>,
}
