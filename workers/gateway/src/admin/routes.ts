/**
 * The admin API's route table: one entry per operation, with the zod schemas its handler parses
 * and answers with. The router registers exactly these routes and the OpenAPI document is built
 * from the same entries, so the two cannot drift apart.
 */
import type { Context } from "hono";
import type * as z from "zod";
import { ApiKeyView, ApiKeyWithSecret, CreateKey, createApiKey, deleteApiKey, listApiKeys, rotateApiKey } from "./api-keys.ts";
import { CreateEndpoint, createEndpoint, deleteEndpoint, EndpointView, getEndpoint, listEndpoints, PatchEndpoint, patchEndpoint } from "./endpoints.ts";
import { CachePricingInput, CachePricingState, deleteCachePricing, getCachePricing, putCachePricing } from "./cache-pricing.ts";
import { ComponentList, ComponentSet, getComponents, putComponents } from "./components.ts";
import { CreateModel, createModel, deleteModel, getModel, listModels, ModelView, PatchModel, patchModel } from "./models.ts";
import type { AdminApp } from "./principal.ts";
import { getTariffs, putTariffs, TariffList, TariffQuery, TariffSet } from "./tariffs.ts";
import { CreateTransaction, createTransaction, listTransactions, TransactionCreated, TransactionQuery, TransactionView } from "./transactions.ts";
import {
  AddMember,
  addMember,
  ChangeMember,
  changeMember,
  CreateOrganization,
  createOrganization,
  deleteOrganization,
  getOrganization,
  listMembers,
  listOrganizations,
  MemberView,
  OrganizationView,
  PatchOrganization,
  patchOrganization,
  removeMember,
} from "./organizations.ts";
import { deleteStoredResponse, getStoredResponse, listStoredResponses, ResponseDetail, ResponseSummary, StoredResponseId, StoredResponsesQuery } from "./stored-responses.ts";
import { CreateUser, createUser, deleteUser, getUser, listUsers, PatchUser, patchUser, UserView } from "./users.ts";
import { pageOf, Pagination, pathIdSchema, type AdminInput } from "./validation.ts";
import { acceptInvitation, CreateInvitation, createInvitation, getInvitation, InvitationCreated, InvitationToken, InvitationView } from "./invitations.ts";
import { createPasswordLink, PasswordLink } from "./password-links.ts";
import { AddGroupModel, AddGroupUser, addGroupModel, addGroupUser, CreateGroup, createGroup, deleteGroup, getGroup, GroupMemberView, GroupModelView, GroupView, listGroupModels, listGroupUsers, listGroups, PatchGroup, patchGroup, removeGroupModel, removeGroupUser } from "./groups.ts";
import { AggregateQuery, aggregateRequests, AggregateView, listRequests, RequestsQuery, RequestView } from "./analytics.ts";
import { getRequest, RequestDetailView, RequestRowId } from "./request-detail.ts";
import { issuePlaygroundKey, PlaygroundKey } from "./playground.ts";
import { EndpointTestResult, testEndpoint } from "./endpoint-test.ts";
import { listModelGroups } from "./model-groups.ts";
import { BatchDetailView, BatchesQuery, BatchId, BatchView, getBatch, listBatches } from "./batches.ts";

export const ADMIN_API_PREFIX = "/api/v1";

export type Method = "get" | "post" | "put" | "patch" | "delete";

/** Path parameters: one schema per `{name}` in the path (pathIdSchema: a UUID, else 404). */
export type ParamsShape = Record<string, z.ZodType<string, string>>;

/** What the router hands a handler: path, query and body, parsed with the route's schemas. */
export type RouteInput<P extends ParamsShape, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> = AdminInput<keyof P & string, Q, B>;

interface RouteFields<P extends ParamsShape, Q extends z.ZodObject | undefined, B extends z.ZodType | undefined> {
  method: Method;
  /** OpenAPI spelling, under /admin/api/v1: `/users/{user_id}/api-keys`. */
  path: string;
  summary: string;
  tag: "Users" | "Organizations" | "API keys" | "Endpoints" | "Models" | "Credits" | "Groups" | "Analytics" | "Stored responses" | "Batches" | "Playground";
  /** Needs platform_manager; otherwise the handler limits the caller to their own things. */
  managersOnly: boolean;
  /** One schema per path parameter; the router refuses a route whose path and params disagree. */
  params?: P;
  query?: Q;
  body?: B;
  response: { status: 200 | 201 | 204; schema?: z.ZodType };
  /** Another success status the operation may answer with (e.g. 200 for an idempotent repeat of a 201). */
  alsoReturns?: { status: 200; description: string };
  /** A uniqueness clash is possible (409). */
  conflicts?: boolean;
}

/**
 * One table entry. The router parses the path parameters (404 for an id that is not one), then
 * the query and the body (400 naming the field), and hands the results to the handler, so the
 * table is the check as well as the document. A handler that reads no input takes only `c`.
 */
export interface AdminRoute<P extends ParamsShape = ParamsShape, Q extends z.ZodObject | undefined = z.ZodObject | undefined, B extends z.ZodType | undefined = z.ZodType | undefined> extends RouteFields<P, Q, B> {
  handler(c: Context<AdminApp>, input: RouteInput<P, Q, B>): Promise<Response>;
}

/** An entry whose handler's input is checked against its schemas. */
function route<P extends ParamsShape = Record<never, never>, Q extends z.ZodObject | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  r: RouteFields<P, Q, B> & { handler: (c: Context<AdminApp>, input: RouteInput<P, Q, B>) => Promise<Response> },
): AdminRoute<P, Q, B> {
  return r;
}

const USER_OR_CURRENT = pathIdSchema("user", { current: true });
const USER = pathIdSchema("user");
const ORGANIZATION = pathIdSchema("organization");
const MEMBER = pathIdSchema("member");
const API_KEY = pathIdSchema("API key");
const ENDPOINT = pathIdSchema("endpoint");
const MODEL = pathIdSchema("model");
const GROUP = pathIdSchema("group");
const GROUP_MEMBER = pathIdSchema("group member");
const GROUP_MODEL = pathIdSchema("group model");

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  route({ method: "get", path: "/users", summary: "List users (platform and billing managers; billing managers read only)", tag: "Users", managersOnly: false, handler: listUsers, query: Pagination, response: { status: 200, schema: pageOf(UserView) } }),
  route({ method: "post", path: "/users", summary: "Create a user", tag: "Users", managersOnly: true, handler: createUser, body: CreateUser, response: { status: 201, schema: UserView }, conflicts: true }),
  route({ method: "get", path: "/users/{id}", summary: "Get a user (`current` is the caller; others: platform and billing managers)", tag: "Users", managersOnly: false, params: { id: USER_OR_CURRENT }, handler: getUser, response: { status: 200, schema: UserView } }),

  route({ method: "get", path: "/organizations", summary: "List organizations (yours; managers: all)", tag: "Organizations", managersOnly: false, handler: listOrganizations, query: Pagination, response: { status: 200, schema: pageOf(OrganizationView) } }),
  route({ method: "post", path: "/organizations", summary: "Create an organization (you become its owner)", tag: "Organizations", managersOnly: false, handler: createOrganization, body: CreateOrganization, response: { status: 201, schema: OrganizationView }, conflicts: true }),
  route({ method: "get", path: "/organizations/{id}", summary: "Get an organization you belong to", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: getOrganization, response: { status: 200, schema: OrganizationView } }),
  route({ method: "patch", path: "/organizations/{id}", summary: "Update an organization (owners and admins)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: patchOrganization, body: PatchOrganization, response: { status: 200, schema: OrganizationView }, conflicts: true }),
  route({ method: "delete", path: "/organizations/{id}", summary: "Delete an organization and its keys (owners)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: deleteOrganization, response: { status: 204 } }),
  route({ method: "get", path: "/organizations/{id}/members", summary: "List an organization's members", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: listMembers, query: Pagination, response: { status: 200, schema: pageOf(MemberView) } }),
  route({ method: "post", path: "/organizations/{id}/members", summary: "Add a member (owners and admins; owners add owners)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: addMember, body: AddMember, response: { status: 201, schema: MemberView }, conflicts: true }),
  route({ method: "patch", path: "/organizations/{id}/members/{user_id}", summary: "Change a member's role (owners; one owner always remains)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION, user_id: MEMBER }, handler: changeMember, body: ChangeMember, response: { status: 200, schema: MemberView }, conflicts: true }),
  route({ method: "delete", path: "/organizations/{id}/members/{user_id}", summary: "Remove a member, or leave (one owner always remains)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION, user_id: MEMBER }, handler: removeMember, response: { status: 204 }, conflicts: true }),

  route({ method: "get", path: "/users/{user_id}/api-keys", summary: "List a user's API keys", tag: "API keys", managersOnly: false, params: { user_id: USER_OR_CURRENT }, handler: listApiKeys, query: Pagination, response: { status: 200, schema: pageOf(ApiKeyView) } }),
  route({ method: "post", path: "/users/{user_id}/api-keys", summary: "Create an API key (the secret is shown once)", tag: "API keys", managersOnly: false, params: { user_id: USER_OR_CURRENT }, handler: createApiKey, body: CreateKey, response: { status: 201, schema: ApiKeyWithSecret } }),
  route({ method: "delete", path: "/users/{user_id}/api-keys/{id}", summary: "Delete an API key", tag: "API keys", managersOnly: false, params: { user_id: USER_OR_CURRENT, id: API_KEY }, handler: deleteApiKey, response: { status: 204 } }),
  route({ method: "post", path: "/users/{user_id}/api-keys/{id}/rotate", summary: "Rotate an API key's secret (shown once)", tag: "API keys", managersOnly: false, params: { user_id: USER_OR_CURRENT, id: API_KEY }, handler: rotateApiKey, response: { status: 200, schema: ApiKeyWithSecret } }),

  route({ method: "get", path: "/endpoints", summary: "List inference endpoints", tag: "Endpoints", managersOnly: true, handler: listEndpoints, query: Pagination, response: { status: 200, schema: pageOf(EndpointView) } }),
  route({ method: "post", path: "/endpoints", summary: "Create an inference endpoint", tag: "Endpoints", managersOnly: true, handler: createEndpoint, body: CreateEndpoint, response: { status: 201, schema: EndpointView }, conflicts: true }),
  route({ method: "get", path: "/endpoints/{id}", summary: "Get an inference endpoint", tag: "Endpoints", managersOnly: true, params: { id: ENDPOINT }, handler: getEndpoint, response: { status: 200, schema: EndpointView } }),
  route({ method: "patch", path: "/endpoints/{id}", summary: "Update an inference endpoint (`api_key: null` clears it)", tag: "Endpoints", managersOnly: true, params: { id: ENDPOINT }, handler: patchEndpoint, body: PatchEndpoint, response: { status: 200, schema: EndpointView }, conflicts: true }),
  route({ method: "delete", path: "/endpoints/{id}", summary: "Delete an inference endpoint that hosts no models", tag: "Endpoints", managersOnly: true, params: { id: ENDPOINT }, handler: deleteEndpoint, response: { status: 204 }, conflicts: true }),
  route({ method: "post", path: "/endpoints/{id}/test", summary: "Test an endpoint: GET {url}/models with its stored credentials (bounded by 5 s; the answer is a value, never the secret)", tag: "Endpoints", managersOnly: true, params: { id: ENDPOINT }, handler: testEndpoint, response: { status: 200, schema: EndpointTestResult } }),

  route({ method: "get", path: "/models", summary: "List deployed models", tag: "Models", managersOnly: true, handler: listModels, query: Pagination, response: { status: 200, schema: pageOf(ModelView) } }),
  route({ method: "post", path: "/models", summary: "Deploy a model", tag: "Models", managersOnly: true, handler: createModel, body: CreateModel, response: { status: 201, schema: ModelView }, conflicts: true }),
  route({ method: "get", path: "/models/{id}", summary: "Get a deployed model", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: getModel, response: { status: 200, schema: ModelView } }),
  route({ method: "patch", path: "/models/{id}", summary: "Update a deployed model", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: patchModel, body: PatchModel, response: { status: 200, schema: ModelView }, conflicts: true }),
  route({ method: "delete", path: "/models/{id}", summary: "Delete a deployed model (its alias stays reserved)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: deleteModel, response: { status: 204 } }),
  route({ method: "get", path: "/models/{id}/tariffs", summary: "A model's tariffs (with `include_history=true`, closed ones too)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: getTariffs, query: TariffQuery, response: { status: 200, schema: TariffList } }),
  route({ method: "put", path: "/models/{id}/tariffs", summary: "Set a model's tariffs: changed prices close the old row and open a new one", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: putTariffs, body: TariffSet, response: { status: 200, schema: TariffList } }),
  route({ method: "get", path: "/models/{id}/components", summary: "A composite model's components", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: getComponents, response: { status: 200, schema: ComponentList } }),
  route({ method: "put", path: "/models/{id}/components", summary: "Set a composite model's components (ordinary models; weight 1–100, sort_order, enabled)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: putComponents, body: ComponentSet, response: { status: 200, schema: ComponentList } }),
  route({ method: "get", path: "/models/{id}/groups", summary: "The groups that grant a model (Everyone: open to all)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: listModelGroups, query: Pagination, response: { status: 200, schema: pageOf(GroupView) } }),
  route({ method: "get", path: "/models/{id}/cache-pricing", summary: "A model's prompt-cache tariff (active and closed rows)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: getCachePricing, response: { status: 200, schema: CachePricingState } }),
  route({ method: "put", path: "/models/{id}/cache-pricing", summary: "Set a model's prompt-cache tariff: closes the active row and opens a new one (turns caching on)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: putCachePricing, body: CachePricingInput, response: { status: 200, schema: CachePricingState } }),
  route({ method: "delete", path: "/models/{id}/cache-pricing", summary: "Close the active prompt-cache tariff (turns caching off)", tag: "Models", managersOnly: true, params: { id: MODEL }, handler: deleteCachePricing, response: { status: 204 } }),

  route({ method: "get", path: "/transactions", summary: "List credit transactions (your own unless you manage credits)", tag: "Credits", managersOnly: false, handler: listTransactions, query: TransactionQuery, response: { status: 200, schema: pageOf(TransactionView) } }),
  route({ method: "post", path: "/transactions", summary: "Grant or remove credits (idempotent with source_id)", tag: "Credits", managersOnly: false, handler: createTransaction, body: CreateTransaction, response: { status: 201, schema: TransactionCreated }, alsoReturns: { status: 200, description: "The source_id was used before for the same transaction: nothing changed" }, conflicts: true }),

  route({ method: "get", path: "/groups", summary: "List groups (a non-manager: the ones they belong to, Everyone included)", tag: "Groups", managersOnly: false, handler: listGroups, query: Pagination, response: { status: 200, schema: pageOf(GroupView) } }),
  route({ method: "post", path: "/groups", summary: "Create a group", tag: "Groups", managersOnly: true, handler: createGroup, body: CreateGroup, response: { status: 201, schema: GroupView }, conflicts: true }),
  route({ method: "get", path: "/groups/{id}", summary: "Get a group (a non-manager: only one they belong to)", tag: "Groups", managersOnly: false, params: { id: GROUP }, handler: getGroup, response: { status: 200, schema: GroupView } }),
  route({ method: "patch", path: "/groups/{id}", summary: "Update a group (Everyone cannot be renamed)", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: patchGroup, body: PatchGroup, response: { status: 200, schema: GroupView }, conflicts: true }),
  route({ method: "delete", path: "/groups/{id}", summary: "Delete a group with its memberships and model grants (not Everyone)", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: deleteGroup, response: { status: 204 } }),
  route({ method: "get", path: "/groups/{id}/users", summary: "List a group's members (Everyone: every user)", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: listGroupUsers, query: Pagination, response: { status: 200, schema: pageOf(GroupMemberView) } }),
  route({ method: "post", path: "/groups/{id}/users", summary: "Add a user to a group (idempotent)", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: addGroupUser, body: AddGroupUser, response: { status: 201, schema: GroupMemberView } }),
  route({ method: "delete", path: "/groups/{id}/users/{user_id}", summary: "Remove a user from a group", tag: "Groups", managersOnly: true, params: { id: GROUP, user_id: GROUP_MEMBER }, handler: removeGroupUser, response: { status: 204 } }),
  route({ method: "get", path: "/groups/{id}/models", summary: "List the models a group grants", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: listGroupModels, query: Pagination, response: { status: 200, schema: pageOf(GroupModelView) } }),
  route({ method: "post", path: "/groups/{id}/models", summary: "Grant a group a model (idempotent)", tag: "Groups", managersOnly: true, params: { id: GROUP }, handler: addGroupModel, body: AddGroupModel, response: { status: 201, schema: GroupModelView } }),
  route({ method: "delete", path: "/groups/{id}/models/{model_id}", summary: "Withdraw a model from a group", tag: "Groups", managersOnly: true, params: { id: GROUP, model_id: GROUP_MODEL }, handler: removeGroupModel, response: { status: 204 } }),

  route({ method: "get", path: "/requests", summary: "List analytics rows, newest first (viewer roles: all; others: their own)", tag: "Analytics", managersOnly: false, handler: listRequests, query: RequestsQuery, response: { status: 200, schema: pageOf(RequestView) } }),
  route({ method: "get", path: "/requests/aggregate", summary: "Usage totals, per key and per time bucket (viewer roles: all; others: their own)", tag: "Analytics", managersOnly: false, handler: aggregateRequests, query: AggregateQuery, response: { status: 200, schema: AggregateView } }),
  // After /requests/aggregate, which it would otherwise shadow.
  route({ method: "get", path: "/requests/{id}", summary: "One analytics row with its cost breakdown (tariff used) and stored response (same visibility as the list)", tag: "Analytics", managersOnly: false, params: { id: RequestRowId }, handler: getRequest, response: { status: 200, schema: RequestDetailView } }),

  route({ method: "get", path: "/batches/requests", summary: "List stored responses (yours; managers: everyone's, or one member's with member_id)", tag: "Stored responses", managersOnly: false, handler: listStoredResponses, query: StoredResponsesQuery, response: { status: 200, schema: pageOf(ResponseSummary) } }),
  route({ method: "get", path: "/batches/requests/{id}", summary: "A stored response with its bodies, tokens and cost", tag: "Stored responses", managersOnly: false, params: { id: StoredResponseId }, handler: getStoredResponse, response: { status: 200, schema: ResponseDetail } }),
  route({ method: "delete", path: "/batches/requests/{id}", summary: "Erase a stored response and its body object (usage and ledger rows stay)", tag: "Stored responses", managersOnly: false, params: { id: StoredResponseId }, handler: deleteStoredResponse, response: { status: 204 } }),
  // After /batches/requests, which {id} would otherwise shadow.
  route({ method: "get", path: "/batches", summary: "List batches (yours; managers: everyone's)", tag: "Batches", managersOnly: false, handler: listBatches, query: BatchesQuery, response: { status: 200, schema: pageOf(BatchView) } }),
  route({ method: "get", path: "/batches/{id}", summary: "One batch (`batch_…`) with its requests' states", tag: "Batches", managersOnly: false, params: { id: BatchId }, handler: getBatch, response: { status: 200, schema: BatchDetailView } }),

  route({ method: "post", path: "/playground/key", summary: "Your console playground key: a new secret on each call (the previous one stops working), shown once", tag: "Playground", managersOnly: false, handler: issuePlaygroundKey, response: { status: 200, schema: PlaygroundKey } }),

  route({ method: "patch", path: "/users/{id}", summary: "Update a user (`current` is the caller; roles: managers only)", tag: "Users", managersOnly: false, params: { id: USER_OR_CURRENT }, handler: patchUser, body: PatchUser, response: { status: 200, schema: UserView }, conflicts: true }),
  route({ method: "delete", path: "/users/{id}", summary: "Soft-delete a user; their API keys stop working", tag: "Users", managersOnly: true, params: { id: USER }, handler: deleteUser, response: { status: 204 } }),

  route({ method: "post", path: "/users/{id}/password-link", summary: "Issue a one-time set-password link (24 h; replaces an unused earlier one)", tag: "Users", managersOnly: true, params: { id: USER }, handler: createPasswordLink, response: { status: 201, schema: PasswordLink } }),
  route({ method: "post", path: "/organizations/{id}/invitations", summary: "Create an invitation link (owners and admins; 7 days, one use)", tag: "Organizations", managersOnly: false, params: { id: ORGANIZATION }, handler: createInvitation, body: CreateInvitation, response: { status: 201, schema: InvitationCreated } }),
  route({ method: "get", path: "/invitations/{token}", summary: "What an invitation link offers", tag: "Organizations", managersOnly: false, params: { token: InvitationToken }, handler: getInvitation, response: { status: 200, schema: InvitationView } }),
  route({ method: "post", path: "/invitations/{token}/accept", summary: "Accept an invitation: the caller joins the organization", tag: "Organizations", managersOnly: false, params: { token: InvitationToken }, handler: acceptInvitation, response: { status: 200, schema: MemberView }, conflicts: true }),
];

/**
 * Component names in the OpenAPI document for the table's body and response schemas (a page of X
 * is `XPage`). A schema not listed here is named after its operation (`PostUsersBody`).
 */
export const SCHEMA_NAMES: ReadonlyMap<z.ZodType, string> = new Map(
  Object.entries({
    AddGroupModel,
    AddGroupUser,
    AddMember,
    AggregateView,
    ApiKeyView,
    ApiKeyWithSecret,
    CachePricingInput,
    CachePricingState,
    ChangeMember,
    ComponentList,
    ComponentSet,
    CreateEndpoint,
    CreateGroup,
    CreateKey,
    CreateModel,
    CreateOrganization,
    CreateTransaction,
    CreateUser,
    EndpointTestResult,
    EndpointView,
    GroupMemberView,
    GroupModelView,
    GroupView,
    MemberView,
    ModelView,
    OrganizationView,
    PatchEndpoint,
    PatchGroup,
    PatchModel,
    PatchOrganization,
    PatchUser,
    PlaygroundKey,
    RequestDetailView,
    RequestView,
    ResponseDetail,
    ResponseSummary,
    BatchView,
    BatchDetailView,
    TariffList,
    TariffSet,
    TransactionCreated,
    TransactionView,
    UserView,
  }).map(([name, schema]) => [schema, name]),
);

/** `/users/{id}` → `/users/:id` for Hono. */
export function honoPath(path: string): string {
  return ADMIN_API_PREFIX + path.replace(/\{(\w+)\}/g, ":$1");
}
