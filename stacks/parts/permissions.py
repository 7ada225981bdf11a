"""IAM: one role per concern, each statement scoped as tightly as EC2's authorization allows.

EC2's Describe* actions support no resource-level permissions, so they are the only
statements on ``*`` (AWS documents this). Everything that changes an instance needs the
instance's opt-in tag; everything that deletes needs a tag vss-restore writes. (The
Finalize role can itself write ``vss-restore:status=replaced``, so for it the tag guards
against mistakes rather than against a compromised function; it runs only after a
successful restore with DeleteReplacedVolumes.) What IAM cannot express is said where it
matters, and in docs/permissions.md.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.aws_dynamodb import ITableV2
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.config import DeploymentConfig
from vss_restore import records, tags
from vss_restore.drill import EVENT_SOURCE, METRIC_NAMESPACE
from vss_restore.fleet import FLEET_EVENT_DETAIL_TYPE
from vss_restore.run_command import VALIDATION_DOCUMENT_PREFIX

(
    READ,
    LOCK,
    CREATE,
    POWER,
    SWAP,
    FINALIZE,
    CLEANUP,
    DRILL,
    VALIDATE,
    PUBLISH,
    FLEET,
    FLEET_REPORT,
    DISKS,
    MOUNT,
    ONLINE_VALIDATE,
) = (
    "Read",
    "Lock",
    "CreateVolumes",
    "Power",
    "Swap",
    "Finalize",
    "Cleanup",
    "Drill",
    "Validate",
    "Publish",
    "Fleet",
    "FleetReport",
    "WindowsDisks",
    "Mount",
    "OnlineValidation",
)
# Which role each task runs with (a task that only reads gets the read-only role).
ROLE_OF_TASK: dict[str, str] = {
    "ValidateRequest": READ,
    "FindSnapshotSet": READ,
    "PlanRestore": READ,
    "WaitVolumesAvailable": READ,
    "WaitInstanceStopped": READ,
    "WaitOriginalsDetached": READ,
    "WaitRestoredAttached": READ,
    "WaitInstanceRunning": READ,
    "WaitStatusChecks": READ,
    "WaitVolumesInitialized": READ,
    "BuildReport": READ,
    "SummarizeFailure": READ,
    "AcquireLock": LOCK,
    "ReleaseLock": LOCK,
    "CreateVolumes": CREATE,
    "StopInstance": POWER,
    "StartInstance": POWER,
    "RestorePowerState": POWER,
    "DetachOriginalVolumes": SWAP,
    "AttachRestoredVolumes": SWAP,
    "SetDeleteOnTermination": SWAP,
    "ReattachOriginalVolumes": SWAP,
    "FinalizeReplacedVolumes": FINALIZE,
    "DeleteRestoredVolumes": CLEANUP,
    "MarkLeftovers": CLEANUP,
    # The fleet machine's tasks: ResolveFleet reads instances; RunFleet starts and reads
    # restore executions, ReportFleet only reads them (granted by the fleet machine, which
    # knows the restore machine) and publishes the fleet's event.
    "ResolveFleet": READ,
    "RunFleet": FLEET,
    "ReportFleet": FLEET_REPORT,
    # Clone drills: launch and remove only drill-tagged clones; run SSM on them; publish.
    "PlanClone": READ,
    "BuildDrillReport": READ,
    "LaunchClone": DRILL,
    "SwapCloneRoot": DRILL,
    "CleanupDrill": DRILL,
    "RunValidation": VALIDATE,
    "WaitValidation": VALIDATE,
    "PublishDrillOutcome": PUBLISH,
    # Windows disks (Mode "Online" and "Mount"): the stack's own disk document only, on
    # opted-in instances only.
    "RequireManagedInstance": READ,
    "SendDiskCommand": DISKS,
    "WaitDiskCommand": DISKS,
    # Mounts (Mode "Mount"): attach, detach and delete only the volumes a mount created.
    "PlanMount": READ,
    "WaitMountAttached": READ,
    "AttachMountVolumes": MOUNT,
    "UnmountVolumes": MOUNT,
    # Mode "Online": the validation runs on the production instance itself, so only with
    # the project's validation documents (vss-restore-validation-*), on opted-in instances.
    "RunOnlineValidation": ONLINE_VALIDATE,
    "WaitOnlineValidation": ONLINE_VALIDATE,
}
# The account's own documents a validation (drill or online restore) may run; the deployment
# may list more (validationDocuments).
VALIDATION_DOCUMENTS = f"{VALIDATION_DOCUMENT_PREFIX}*"

DESCRIBE_ACTIONS = [
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeVolumes",
    "ec2:DescribeSnapshots",
    "ec2:DescribeImages",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    # A clone goes only into a subnet without a route to an internet gateway (ValidateRequest).
    "ec2:DescribeRouteTables",
    # A clone's isolation group sends HTTPS only to its VPC's SSM endpoints' groups, and the
    # plan warns when the VPC's DHCP options give DNS servers other than Amazon's (PlanClone).
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    # Volume initialization: fast snapshot restore per snapshot and zone (planning), and
    # each restored volume's initialization progress (WaitForInitialization).
    "ec2:DescribeFastSnapshotRestores",
    "ec2:DescribeVolumeStatus",
    # Mode "Online" and "Mount" need an instance type built on the Nitro System (ValidateRequest).
    "ec2:DescribeInstanceTypes",
]
# The keys Finalize writes on a replaced original.
FINALIZE_TAG_KEYS = [tags.REPLACED_BY, tags.REPLACED_BY_EXECUTION, tags.STATUS]
# A drill's clone and volumes carry vss-restore:drill = the source instance's id.
DRILL_TAG_CONDITION = {"StringLike": {f"aws:ResourceTag/{tags.DRILL}": "i-*"}}
_EC2_WILDCARD_ARN = (
    "/^Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:(<AWS::AccountId>)?:"
    "(instance|volume|snapshot|image|subnet|security-group|network-interface|key-pair|vpc)/\\*$/"
)
_SSM_DOCUMENT_ARN = (
    "/^Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:(<AWS::AccountId>)?:"
    "document/(vss-restore-validation-)?\\*$/"
)
KMS_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
]
# The roles that use customer KMS keys through EC2 (create, start, attach, launch): their
# ARNs are stack outputs, for the key-policy statements such keys need.
KMS_CONCERNS = (CREATE, POWER, SWAP, DRILL, MOUNT)
# The task roles' IAM path: their ARNs are arn:aws:iam::<account>:role/vss-restore/<name>, so a
# service control policy or permissions boundary can exempt them by pattern
# (docs/examples/*-protect-vss-restore-tags.json).
TASK_ROLE_PATH = "/vss-restore/"
# What ModifyInstanceAttribute, AttachVolume and DetachVolume are authorized on besides
# the instance (the Service Authorization Reference lists volume for all three).
SWAP_VOLUME_ACTIONS = ["ec2:AttachVolume", "ec2:DetachVolume", "ec2:ModifyInstanceAttribute"]


class TaskRoles(Construct):
    """The Lambda execution roles, keyed by concern."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        lock_table: ITableV2,
        records_table: ITableV2,
        log_group: logs.ILogGroup,
        disks_document: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._config = config
        self._ec2_service = f"ec2.{stack.region}.amazonaws.com"
        self._clone_instance_role()
        self.roles: dict[str, iam.Role] = {}
        for concern in (
            READ,
            LOCK,
            CREATE,
            POWER,
            SWAP,
            FINALIZE,
            CLEANUP,
            DRILL,
            VALIDATE,
            PUBLISH,
            FLEET,
            FLEET_REPORT,
            DISKS,
            MOUNT,
            ONLINE_VALIDATE,
        ):
            role = iam.Role(
                self,
                f"{concern}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"vss-restore tasks: {concern}",
                path=TASK_ROLE_PATH,
            )
            log_group.grant_write(role)
            self.roles[concern] = role
        lock_table.grant(
            self.roles[LOCK], "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"
        )
        self._records(records_table)
        for concern in (READ, CREATE, POWER, SWAP, FINALIZE, CLEANUP, DRILL, MOUNT):
            self._describe(self.roles[concern])
        self._create_volumes(self.roles[CREATE])
        self._power(self.roles[POWER])
        self._swap(self.roles[SWAP])
        self._finalize(self.roles[FINALIZE])
        self._cleanup(self.roles[CLEANUP])
        self._drill(self.roles[DRILL])
        self._validate(self.roles[VALIDATE], self.roles[READ])
        self._publish(self.roles[PUBLISH])
        self._publish_fleet(self.roles[FLEET_REPORT])
        self._windows_disks(self.roles[DISKS], self.roles[READ], disks_document)
        self._mounts(self.roles[MOUNT], disks_document)
        self._online_validation(self.roles[ONLINE_VALIDATE])
        for concern in KMS_CONCERNS:
            self._kms(self.roles[concern])
        for concern in (SWAP, DRILL):  # the roles allowed ModifyInstanceAttribute
            self._no_user_data(self.roles[concern])
        self._explain_wildcards()

    def _clone_instance_role(self) -> None:
        """The drill clones' own role and instance profile: Systems Manager core only, so a
        clone's services never act with the source's (production) credentials."""
        self.clone_role = iam.Role(
            self,
            "CloneInstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("AmazonSSMManagedInstanceCore")
            ],
            description="vss-restore drill clones: Systems Manager core only",
        )
        self.clone_profile = iam.InstanceProfile(self, "CloneInstanceProfile", role=self.clone_role)
        NagSuppressions.add_resource_suppressions(
            self.clone_role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM4",
                    reason=(
                        "AmazonSSMManagedInstanceCore is what AWS documents for an instance that "
                        "Systems Manager manages; the clone's role has nothing else."
                    ),
                    applies_to=[
                        "Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore"
                    ],
                )
            ],
        )

    def _arn(self, resource: str) -> str:
        """An EC2 resource ARN of this account and region (``instance/*``, ``volume/*``)."""
        stack = Stack.of(self)
        return f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:{resource}"

    def _own_snapshots(self, sid: str, action: str) -> iam.PolicyStatement:
        """``action`` on this account's own snapshots only. A snapshot's ARN names no account
        (``arn:…:ec2:<region>::snapshot/<id>``), so the owner is a condition (``ec2:Owner``)."""
        stack = Stack.of(self)
        return iam.PolicyStatement(
            sid=sid,
            actions=[action],
            resources=[f"arn:{stack.partition}:ec2:{stack.region}::snapshot/*"],
            conditions={"StringEquals": {"ec2:Owner": stack.account}},
        )

    def _records(self, table: ITableV2) -> None:
        """Who writes and reads the records of what was created (cleanups go by them)."""
        write = "dynamodb:BatchWriteItem"
        query = ("dynamodb:Query",)
        scan = ("dynamodb:Scan",)
        needs = {
            CREATE: (write,),  # records each volume it creates
            FINALIZE: (write,),  # forgets a succeeded restore's volumes: production now
            CLEANUP: (write, *query),  # a rollback deletes only what its execution recorded
            DRILL: (write, *query, *scan),  # records clones; the daily pass scans expiries
            MOUNT: (write, *query, *scan),  # the hourly pass of expired mounts
        }
        for concern, actions in needs.items():
            self.roles[concern].add_to_policy(
                iam.PolicyStatement(
                    sid="RecordsOfWhatWasCreated",
                    actions=list(actions),
                    # An execution's records are read through the table's one index.
                    resources=[table.table_arn, f"{table.table_arn}/index/{records.BY_EXECUTION}"],
                )
            )

    def role_for(self, task: str) -> iam.Role:
        return self.roles[ROLE_OF_TASK[task]]

    # --- statements --------------------------------------------------------------------

    def _opt_in(self) -> dict[str, dict[str, str]]:
        key = f"aws:ResourceTag/{self._config.opt_in_tag_key}"
        return {"StringEquals": {key: self._config.opt_in_tag_value}}

    def _describe(self, role: iam.Role) -> None:
        # Describe* cannot be scoped to resources in EC2's authorization model.
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadEc2State", actions=DESCRIBE_ACTIONS, resources=["*"])
        )

    def _create_volumes(self, role: iam.Role) -> None:
        # New volumes must carry the created-by tag in the same request...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateTaggedVolumes",
                actions=["ec2:CreateVolume"],
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE}
                },
            )
        )
        # ...and may be made only from this account's own snapshots (VSS sets are), never
        # from a public or shared one.
        role.add_to_policy(self._own_snapshots("CreateVolumesFromOwnSnapshots", "ec2:CreateVolume"))
        # Tags only as part of CreateVolume, never on existing resources.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TagOnCreateOnly",
                actions=["ec2:CreateTags"],
                resources=[self._arn("volume/*")],
                conditions={"StringEquals": {"ec2:CreateAction": "CreateVolume"}},
            )
        )

    def _power(self, role: iam.Role) -> None:
        # Stop and start only instances that opted in with their tag.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="StopStartOptedInInstances",
                actions=["ec2:StopInstances", "ec2:StartInstances"],
                resources=[self._arn("instance/*")],
                conditions=self._opt_in(),
            )
        )

    def _swap(self, role: iam.Role) -> None:
        # Attach/detach/modify need the instance to carry the opt-in tag; the rollback may
        # also stop it again before putting the original volumes back.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SwapOnOptedInInstances",
                actions=[*SWAP_VOLUME_ACTIONS, "ec2:StopInstances"],
                resources=[self._arn("instance/*")],
                conditions=self._opt_in(),
            )
        )
        # EC2 authorizes the three on the volume as well (SetDeleteOnTermination's
        # ModifyInstanceAttribute names each volume in its block device mappings). Neither
        # statement reaches a drill's volume (those carry vss-restore:drill). The
        # replacements carry our created-by tag...
        not_a_drill = {"Null": {f"aws:ResourceTag/{tags.DRILL}": "true"}}
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SwapRestoredVolumes",
                actions=SWAP_VOLUME_ACTIONS,
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
                    **not_a_drill,
                },
            )
        )
        # ...the originals carry no tag of ours, and EC2 has no condition key that ties a
        # volume to the instance it is attached to: their side is every volume of this
        # account and region that no drill launched. DetachVolume's instance is optional,
        # so IAM cannot make it name an opted-in instance; the tasks always name one.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SwapOriginalVolumes",
                actions=SWAP_VOLUME_ACTIONS,
                resources=[self._arn("volume/*")],
                conditions=not_a_drill,
            )
        )

    def _finalize(self, role: iam.Role) -> None:
        # Mark the replacements restored (they carry our created-by tag)...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="MarkRestoredVolumes",
                actions=["ec2:CreateTags"],
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {
                        f"aws:ResourceTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE,
                        f"aws:RequestTag/{tags.STATUS}": tags.STATUS_RESTORED,
                    },
                    "ForAllValues:StringEquals": {"aws:TagKeys": [tags.STATUS]},
                },
            )
        )
        # ...and the originals replaced: only the three keys that record it, status=replaced.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="MarkReplacedVolumes",
                actions=["ec2:CreateTags"],
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:RequestTag/{tags.STATUS}": tags.STATUS_REPLACED},
                    "ForAllValues:StringEquals": {"aws:TagKeys": FINALIZE_TAG_KEYS},
                },
            )
        )
        # ...and delete (DeleteReplacedVolumes) only volumes so marked.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeleteMarkedReplacedVolumes",
                actions=["ec2:DeleteVolume"],
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{tags.STATUS}": tags.STATUS_REPLACED}
                },
            )
        )

    def _cleanup(self, role: iam.Role) -> None:
        # Rollback deletes, or tags for cleanup, only volumes vss-restore created.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeleteOrTagOwnVolumes",
                actions=["ec2:DeleteVolume", "ec2:CreateTags"],
                resources=[self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:ResourceTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE}
                },
            )
        )

    def _drill(self, role: iam.Role) -> None:
        stack = Stack.of(self)
        # RunInstances creates the instance and its volumes: only with our drill tags...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchOnlyDrillTaggedClones",
                actions=["ec2:RunInstances"],
                resources=[self._arn("instance/*"), self._arn("volume/*")],
                conditions={
                    "StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
                    "StringLike": {f"aws:RequestTag/{tags.DRILL}": "i-*"},
                },
            )
        )
        # ...from this account's subnets, groups, key pairs and snapshots (the set's disks),
        # and any AMI it can read (the source's AMI may be AWS's or shared).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="LaunchFromAccountNetworkAndImages",
                actions=["ec2:RunInstances"],
                resources=[
                    self._arn("subnet/*"),
                    self._arn("security-group/*"),
                    self._arn("network-interface/*"),
                    self._arn("key-pair/*"),
                    f"arn:{stack.partition}:ec2:{stack.region}::image/*",
                ],
            )
        )
        role.add_to_policy(self._own_snapshots("LaunchFromOwnSnapshots", "ec2:RunInstances"))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="TagDrillResourcesAtCreationOnly",
                actions=["ec2:CreateTags"],
                resources=[
                    self._arn("instance/*"),
                    self._arn("volume/*"),
                    self._arn("security-group/*"),
                ],
                conditions={
                    "StringEquals": {
                        "ec2:CreateAction": ["RunInstances", "CreateVolume", "CreateSecurityGroup"]
                    }
                },
            )
        )
        self._drill_isolation(role)
        self._drill_root_swap(role)
        # Terminate and delete only what a drill created.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RemoveOnlyDrillResources",
                actions=["ec2:TerminateInstances", "ec2:DeleteVolume"],
                resources=[self._arn("instance/*"), self._arn("volume/*")],
                conditions=DRILL_TAG_CONDITION,
            )
        )
        # The clone runs with the stack's own profile (Systems Manager core): its role, passed
        # only to EC2. A deployment that lets clones keep their source's profile
        # (cloneKeepsSourceProfile) names those roles too; PlanClone refuses any other.
        kept = (
            list(self._config.drill_instance_role_arns)
            if self._config.guardrails.clone_keeps_source_profile
            else []
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassInstanceProfileRoleToEc2",
                actions=["iam:PassRole"],
                resources=[self.clone_role.role_arn, *kept],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )

    def _drill_tags_requested(self) -> dict[str, dict[str, str]]:
        return {
            "StringEquals": {f"aws:RequestTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
            "StringLike": {f"aws:RequestTag/{tags.DRILL}": "i-*"},
        }

    def _drill_isolation(self, role: iam.Role) -> None:
        # The clone's isolation group: created only with the drill's tags, in any VPC of the
        # account (the request names the subnet)...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateDrillTaggedIsolationGroups",
                actions=["ec2:CreateSecurityGroup"],
                resources=[self._arn("security-group/*")],
                conditions=self._drill_tags_requested(),
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateIsolationGroupsInAccountVpcs",
                actions=["ec2:CreateSecurityGroup"],
                resources=[self._arn("vpc/*")],
            )
        )
        # ...and only drill-tagged groups get their rules changed, or are deleted.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ChangeOrRemoveOnlyDrillGroups",
                actions=[
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupEgress",
                    "ec2:DeleteSecurityGroup",
                ],
                resources=[self._arn("security-group/*")],
                conditions=DRILL_TAG_CONDITION,
            )
        )

    def _drill_root_swap(self, role: iam.Role) -> None:
        # The clone's root: a drill-tagged volume from one of the account's snapshots...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="CreateDrillTaggedRootVolumes",
                actions=["ec2:CreateVolume"],
                resources=[self._arn("volume/*")],
                conditions=self._drill_tags_requested(),
            )
        )
        role.add_to_policy(
            self._own_snapshots("CreateRootVolumesFromOwnSnapshots", "ec2:CreateVolume")
        )
        # ...swapped in on the stopped clone: instance and volumes both drill-tagged.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="SwapRootsOfDrillClonesOnly",
                actions=[
                    "ec2:StopInstances",
                    "ec2:StartInstances",
                    "ec2:DetachVolume",
                    "ec2:AttachVolume",
                    "ec2:ModifyInstanceAttribute",
                ],
                resources=[self._arn("instance/*"), self._arn("volume/*")],
                conditions=DRILL_TAG_CONDITION,
            )
        )

    def _validate(self, role: iam.Role, read: iam.Role) -> None:
        stack = Stack.of(self)
        documents = [
            f"arn:{stack.partition}:ssm:{stack.region}::document/*",
            f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:document/*",
        ]
        # Run Command only on drill clones...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunCommandOnDrillClonesOnly",
                actions=["ssm:SendCommand"],
                resources=[self._arn("instance/*")],
                conditions={"StringLike": {f"ssm:resourceTag/{tags.DRILL}": "i-*"}},
            )
        )
        # ...with the documents ValidateRequest lets a drill name, and no other.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunValidationDocumentsOnly",
                actions=["ssm:SendCommand"],
                resources=self._validation_documents(),
            )
        )
        # Reading command results has no resource-level permissions.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCommandResults",
                actions=["ssm:GetCommandInvocation", "ssm:ListCommands"],
                resources=["*"],
            )
        )
        read.add_to_policy(
            iam.PolicyStatement(
                sid="CheckValidationDocuments",
                actions=["ssm:DescribeDocument"],
                resources=documents,
            )
        )
        if self._config.guardrails.clone_keeps_source_profile:
            # PlanClone reads the role of the source's profile, to refuse an unlisted one.
            read.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadSourceInstanceProfiles",
                    actions=["iam:GetInstanceProfile"],
                    resources=[f"arn:{stack.partition}:iam::{stack.account}:instance-profile/*"],
                )
            )

    def _windows_disks(self, role: iam.Role, read: iam.Role, document: str) -> None:
        self._disk_document(role, document, "")
        # A rollback takes offline only the replacements attached to the instance now.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadVolumeAttachments", actions=["ec2:DescribeVolumes"], resources=["*"]
            )
        )
        read.add_to_policy(
            iam.PolicyStatement(
                sid="ReadAgentStatus", actions=["ssm:DescribeInstanceInformation"], resources=["*"]
            )
        )

    def _disk_document(self, role: iam.Role, document: str, purpose: str) -> None:
        """Run Command: the stack's disk document, on opted-in instances, and nothing else
        (``purpose`` tells the statement ids of another role apart)."""
        stack = Stack.of(self)
        opt_in = f"ssm:resourceTag/{self._config.opt_in_tag_key}"
        role.add_to_policy(
            iam.PolicyStatement(
                sid=f"RunDiskDocument{purpose}OnOptedInInstances",
                actions=["ssm:SendCommand"],
                resources=[self._arn("instance/*")],
                conditions={"StringEquals": {opt_in: self._config.opt_in_tag_value}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid=f"RunTheDiskDocumentOnly{purpose}",
                actions=["ssm:SendCommand"],
                resources=[
                    f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:document/{document}"
                ],
            )
        )
        # Reading command results and agent status has no resource-level permissions.
        role.add_to_policy(
            iam.PolicyStatement(
                sid=f"ReadDiskCommandResults{purpose}",
                actions=["ssm:GetCommandInvocation", "ssm:ListCommands"],
                resources=["*"],
            )
        )
        # A disk command the workflow stopped waiting for is cancelled before the rollback
        # sends the next; CancelCommand has no resource types either.
        role.add_to_policy(
            iam.PolicyStatement(
                sid=f"CancelTimedOutDiskCommands{purpose}",
                actions=["ssm:CancelCommand"],
                resources=["*"],
            )
        )

    def _mounts(self, role: iam.Role, document: str) -> None:
        # Attach and detach on opted-in instances (the mount's target)...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AttachDetachOnOptedInInstances",
                actions=["ec2:AttachVolume", "ec2:DetachVolume"],
                resources=[self._arn("instance/*")],
                conditions=self._opt_in(),
            )
        )
        # ...of volumes a mount created: our created-by tag and the mounted-on key. DetachVolume
        # names no instance in IAM's sight (its instance is optional), so the volume's tags
        # are what keep the live volumes out of reach.
        mount_volume = {
            "StringEquals": {f"aws:ResourceTag/{tags.CREATED_BY}": tags.CREATED_BY_VALUE},
            "Null": {f"aws:ResourceTag/{tags.MOUNTED_ON}": "false"},
        }
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AttachDetachMountVolumesOnly",
                actions=["ec2:AttachVolume", "ec2:DetachVolume"],
                resources=[self._arn("volume/*")],
                conditions=mount_volume,
            )
        )
        # Unmount: delete them, or tag them for cleanup when they cannot be deleted.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeleteOrTagMountVolumesOnly",
                actions=["ec2:DeleteVolume", "ec2:CreateTags"],
                resources=[self._arn("volume/*")],
                conditions=mount_volume,
            )
        )
        # The disks go offline before their volumes are detached.
        self._disk_document(role, document, "ToUnmount")

    def _online_validation(self, role: iam.Role) -> None:
        opt_in = f"ssm:resourceTag/{self._config.opt_in_tag_key}"
        # Mode "Online": Run Command on instances that opted in...
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunValidationOnOptedInInstances",
                actions=["ssm:SendCommand"],
                resources=[self._arn("instance/*")],
                conditions={"StringEquals": {opt_in: self._config.opt_in_tag_value}},
            )
        )
        # ...with the documents ValidateRequest lets a validation name, and no other.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="RunOwnValidationDocumentsOnly",
                actions=["ssm:SendCommand"],
                resources=self._validation_documents(),
            )
        )
        # Reading command results has no resource-level permissions.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadValidationResults",
                actions=["ssm:GetCommandInvocation", "ssm:ListCommands"],
                resources=["*"],
            )
        )

    def _validation_documents(self) -> list[str]:
        """What ValidateRequest lets a drill or an online restore run: this account's
        ``vss-restore-validation-*`` documents and those the deployment lists
        (``validationDocuments``); an AWS-owned document only if listed."""
        stack = Stack.of(self)
        return [
            f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:"
            f"document/{VALIDATION_DOCUMENTS}",
            *self._listed_documents(),
        ]

    def _listed_documents(self) -> list[str]:
        """The ``validationDocuments`` as SendCommand's resources: an ARN as it is, a name as
        this account's document or AWS's (SSM looks a name up among both)."""
        stack = Stack.of(self)
        found: list[str] = []
        for document in self._config.guardrails.validation_documents:
            if document.startswith("arn:"):
                found.append(document)
            else:
                found += [
                    f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:document/{document}",
                    f"arn:{stack.partition}:ssm:{stack.region}::document/{document}",
                ]
        return found

    def _publish(self, role: iam.Role) -> None:
        stack = Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PutDrillMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PutDrillEvents",
                actions=["events:PutEvents"],
                resources=[
                    f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/default"
                ],
            )
        )

    def _publish_fleet(self, role: iam.Role) -> None:
        """The fleet's outcome event only: its source and detail type, on the default bus."""
        stack = Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PutFleetEvents",
                actions=["events:PutEvents"],
                resources=[
                    f"arn:{stack.partition}:events:{stack.region}:{stack.account}:event-bus/default"
                ],
                conditions={
                    "StringEquals": {
                        "events:source": EVENT_SOURCE,
                        "events:detail-type": FLEET_EVENT_DETAIL_TYPE,
                    }
                },
            )
        )

    def _no_user_data(self, role: iam.Role) -> None:
        # ModifyInstanceAttribute is for DeleteOnTermination (block device mappings) only, but
        # IAM cannot allow one attribute: the Reference documents ec2:Attribute/${AttributeName}
        # ("an attribute being set") on the instance, not the names. The user data, code run at
        # boot, is refused by name (key names are case-insensitive); a call that sets no user
        # data, as every task's, is untouched (docs/permissions.md).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="NeverChangeUserData",
                effect=iam.Effect.DENY,
                actions=["ec2:ModifyInstanceAttribute"],
                resources=[self._arn("instance/*")],
                conditions={"Null": {"ec2:Attribute/UserData": "false"}},
            )
        )

    def _kms(self, role: iam.Role) -> None:
        # Encrypted volumes: EC2 uses the key on the caller's behalf, never directly.
        keys = list(self._config.kms_key_arns) or ["*"]
        role.add_to_policy(
            iam.PolicyStatement(
                sid="UseKeysThroughEc2",
                actions=KMS_ACTIONS,
                resources=keys,
                conditions={"StringEquals": {"kms:ViaService": self._ec2_service}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="GrantKeysToEc2",
                actions=["kms:CreateGrant"],
                resources=keys,
                conditions={
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                    "StringEquals": {"kms:ViaService": self._ec2_service},
                },
            )
        )

    def _explain_wildcards(self) -> None:
        for role in self.roles.values():
            NagSuppressions.add_resource_suppressions(
                role,
                [
                    NagPackSuppression(
                        id="AwsSolutions-IAM5",
                        reason=(
                            "Wildcards are limited to: EC2 Describe* (no resource-level permissions exist); "
                            "instance/* and volume/* of this account and region, each with a tag condition "
                            "where EC2 supports one (the original volumes carry no tag of ours); snapshot/* "
                            "owned by this account only (ec2:Owner); KMS keys only via EC2 (kms:ViaService) unless key ARNs "
                            "are configured; the task log group's streams; X-Ray segments (no resources). "
                            "Drills: image/*, snapshot/*, subnet/*, security-group/*, network-interface/* "
                            "and key-pair/* are the launch inputs of RunInstances, whose instance and volume "
                            "must carry the drill tags; SSM documents (the request names one) run only on "
                            "drill-tagged instances; online restores run only this account's "
                            "vss-restore-validation-* documents, on opted-in instances; "
                            "ssm:GetCommandInvocation/ListCommands and "
                            "cloudwatch:PutMetricData (namespace condition) have no resource-level scope; "
                            "iam:PassRole names the stack's clone role and the configured "
                            "instance-profile roles (a pattern if the deployment gives one), passed "
                            "only to ec2.amazonaws.com; iam:GetInstanceProfile (only when clones "
                            "may keep their source's profile) reads this account's profiles."
                        ),
                        applies_to=[
                            "Resource::*",
                            {"regex": _EC2_WILDCARD_ARN},
                            {"regex": _SSM_DOCUMENT_ARN},
                            {"regex": "/^Resource::<TaskLogs.*\\.Arn>:\\*$/"},
                            {"regex": "/^Resource::arn:[^:]+:iam::[0-9]{12}:role/.*\\*.*$/"},
                            {
                                "regex": "/^Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:"
                                "instance-profile/\\*$/"
                            },
                        ],
                    )
                ],
                apply_to_children=True,
            )
