/* telemail — document tree helpers (no library types: the tree is plain C). */
#include <stdlib.h>
#include <string.h>

#include <telemail/node.h>

void tm_node_free(struct tm_node *n)
{
	if (n == NULL)
		return;
	switch (n->type) {
	case TM_NODE_STRING:
		free(n->u.str.s);
		break;
	case TM_NODE_SEQ:
		for (size_t i = 0; i < n->u.seq.n; i++)
			tm_node_free(n->u.seq.items[i]);
		free(n->u.seq.items);
		break;
	case TM_NODE_MAP:
		for (size_t i = 0; i < n->u.map.n; i++) {
			free(n->u.map.pairs[i].key);
			tm_node_free(n->u.map.pairs[i].value);
		}
		free(n->u.map.pairs);
		break;
	default:
		break;
	}
	free(n);
}

const struct tm_node *tm_node_get(const struct tm_node *map, const char *key)
{
	if (map == NULL || key == NULL || map->type != TM_NODE_MAP)
		return NULL;
	size_t len = strlen(key);
	for (size_t i = 0; i < map->u.map.n; i++) {
		const struct tm_node_pair *p = &map->u.map.pairs[i];
		if (p->key_len == len && memcmp(p->key, key, len) == 0)
			return p->value;
	}
	return NULL;
}

const char *tm_node_type_name(enum tm_node_type t)
{
	switch (t) {
	case TM_NODE_NULL:
		return "null";
	case TM_NODE_BOOL:
		return "boolean";
	case TM_NODE_INT:
		return "integer";
	case TM_NODE_FLOAT:
		return "number";
	case TM_NODE_STRING:
		return "string";
	case TM_NODE_SEQ:
		return "array";
	case TM_NODE_MAP:
		return "object";
	}
	return "unknown";
}
