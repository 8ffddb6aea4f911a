import { queryOptions } from "@tanstack/react-query";
import { apiFetch, jsonBody } from "@/lib/client/api-fetch";
import {
  CreatedToken,
  Me,
  OkResponse,
  TokenList,
  UserList,
  UserView,
  type ChangePasswordRequest,
  type CreateTokenRequest,
  type CreateUserRequest,
  type LoginRequest,
  type UpdateUserRequest,
} from "@/lib/contracts/auth";

/** The browser's side of the accounts API (keys general → specific). */

export const accountKeys = {
  all: ["accounts"] as const,
  users: () => [...accountKeys.all, "users"] as const,
  tokens: () => [...accountKeys.all, "tokens"] as const,
};

export const usersQuery = () => queryOptions({ queryKey: accountKeys.users(), queryFn: ({ signal }) => apiFetch("/api/users", UserList, { signal }) });
export const tokensQuery = () => queryOptions({ queryKey: accountKeys.tokens(), queryFn: ({ signal }) => apiFetch("/api/tokens", TokenList, { signal }) });

const userUrl = (name: string) => `/api/users/${encodeURIComponent(name)}`;

export const accountActions = {
  login: (req: LoginRequest) => apiFetch("/api/auth/login", Me, jsonBody(req)),
  changePassword: (req: ChangePasswordRequest) => apiFetch("/api/auth/password", OkResponse, jsonBody(req)),
  createUser: (req: CreateUserRequest) => apiFetch("/api/users", UserView, jsonBody(req)),
  updateUser: (name: string, req: UpdateUserRequest) => apiFetch(userUrl(name), UserView, jsonBody(req, "PATCH")),
  deleteUser: (name: string) => apiFetch(userUrl(name), OkResponse, jsonBody(undefined, "DELETE")),
  createToken: (req: CreateTokenRequest) => apiFetch("/api/tokens", CreatedToken, jsonBody(req)),
  revokeToken: (id: string) => apiFetch(`/api/tokens/${encodeURIComponent(id)}`, OkResponse, jsonBody(undefined, "DELETE")),
};
